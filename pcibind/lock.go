package pcibind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultLockTimeout is how long a run waits for another to finish.
const DefaultLockTimeout = 30 * time.Second

// LockOptions tune Lock.
type LockOptions struct {
	// Timeout bounds the wait (DefaultLockTimeout when 0).
	Timeout time.Duration
	// OnWait is called once when the wait passes a second, with the
	// holder as its lock file records it ("pid 123: xlpt pci-attach
	// ..."), so the caller can say for whom it waits.
	OnWait func(holder string)
	// Cmdline is recorded for the next waiter (os.Args when empty).
	Cmdline string
	// ProcRoot is where /proc is ("/proc" when empty): its locks file
	// names the live holder.
	ProcRoot string
}

// Lock takes the host-wide xlpt lock (an flock on stateDir/lock) so that
// two xlpt runs cannot interleave changes to driver bindings and device
// assignments. Reads take no lock. It waits up to 30 s for another run.
// A holder that died holds nothing: the kernel drops its flock.
func Lock(stateDir string) (unlock func(), err error) {
	return LockWith(stateDir, LockOptions{})
}

// LockWith is Lock with options.
func LockWith(stateDir string, o LockOptions) (unlock func(), err error) {
	if !filepath.IsAbs(stateDir) {
		return nil, fmt.Errorf("host lock: %w", CheckStateDir(stateDir))
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if err := CheckStateDir(stateDir); err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultLockTimeout
	}
	if o.Cmdline == "" {
		o.Cmdline = strings.Join(os.Args, " ")
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	path := filepath.Join(stateDir, "lock")
	// Never through a symlink planted in its place: the lock file is
	// truncated, and root would truncate whatever it points at.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: host lock %s is a symbolic link; xlpt does not follow it (remove it: rm %s)", ErrUnsafeStateDir, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: host lock %s is not a regular file (remove it)", ErrUnsafeStateDir, path)
	}
	start := time.Now()
	told := false
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		waited := time.Since(start)
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("host lock %s: %w", path, os.NewSyscallError("flock", err))
		}
		if waited > o.Timeout {
			holder := lockHolder(f, o.ProcRoot)
			f.Close()
			return nil, fmt.Errorf("%w: host lock %s held by %s for over %v (wait for it to finish, or raise lock_timeout in the host config if the host is busy)",
				ErrLockBusy, path, holder, o.Timeout)
		}
		if !told && waited > time.Second && o.OnWait != nil {
			o.OnWait(lockHolder(f, o.ProcRoot))
			told = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d: %s\n", os.Getpid(), o.Cmdline)), 0)
	return func() {
		// The holder line names only a live holder: cleared before the
		// lock goes (a run killed holding it leaves its line, and
		// lockHolder then finds it dead).
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ErrLockBusy says another run held the host lock for longer than the
// wait allowed.
var ErrLockBusy = errors.New("another run holds the host lock")

// ErrUnsafeStateDir refuses a state directory (or a file in it) that
// another user could have put there or can change: xlpt, as root, acts
// on what it reads back from it.
var ErrUnsafeStateDir = errors.New("unsafe state directory")

// CheckStateDir refuses a state directory that is not an absolute path,
// not a directory, not owned by this user (root, for a real host), or
// writable by group or others: its records decide what xlpt does to
// devices, and its lock keeps runs apart.
func CheckStateDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%w: %s is not an absolute path (a relative one gives every working directory a lock of its own)", ErrUnsafeStateDir, dir)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeStateDir, dir)
	case ok && int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%w: %s is owned by uid %d, not by uid %d, who runs xlpt (chown %d %s)", ErrUnsafeStateDir, dir, sys.Uid, os.Geteuid(), os.Geteuid(), dir)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: %s is writable by group or others (mode %04o; chmod go-w %s)", ErrUnsafeStateDir, dir, st.Mode().Perm(), dir)
	}
	return nil
}

// lockHolder names the live holder of the lock open as f: the process
// the kernel lists as holding it (procRoot/locks), with the line its
// holder recorded when that is the same process, else its command line.
// Without /proc/locks, the recorded line is trusted only while its pid
// is alive.
func lockHolder(f *os.File, procRoot string) string {
	b, _ := os.ReadFile(f.Name())
	line := strings.TrimSpace(string(b))
	recorded := 0
	fmt.Sscanf(line, "pid %d:", &recorded)
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err == nil {
		if pids, err := flockHolders(procRoot, st.Ino); err == nil && len(pids) > 0 {
			for _, p := range pids {
				if p == recorded {
					return line
				}
			}
			cmd := procCmdline(procRoot, pids[0])
			if cmd == "" {
				cmd = "a process that is not xlpt, or has exited"
			}
			return fmt.Sprintf("pid %d: %s", pids[0], cmd)
		}
	}
	if recorded > 0 {
		if _, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(recorded))); err == nil {
			return line
		}
	}
	return "a process that recorded nothing (see /proc/locks)"
}

// flockHolders lists the pids procRoot/locks gives for flock locks on
// inode ino ("1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF").
func flockHolders(procRoot string, ino uint64) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "locks"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || f[1] != "FLOCK" {
			continue
		}
		parts := strings.Split(f[5], ":")
		if len(parts) != 3 {
			continue
		}
		if n, err := strconv.ParseUint(parts[2], 10, 64); err != nil || n != ino {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// procCmdline is a process's command line, "" when it is gone.
func procCmdline(procRoot string, pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
