package pcibind

import (
	"fmt"
	"os"
	"path/filepath"
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
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultLockTimeout
	}
	if o.Cmdline == "" {
		o.Cmdline = strings.Join(os.Args, " ")
	}
	path := filepath.Join(stateDir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	start := time.Now()
	told := false
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		waited := time.Since(start)
		if err != syscall.EWOULDBLOCK || waited > o.Timeout {
			f.Close()
			return nil, fmt.Errorf("host lock %s: held by another run (%s) for over %v (raise lock_timeout in the host config if it is busy): %w",
				path, lockHolder(path), o.Timeout, err)
		}
		if !told && waited > time.Second && o.OnWait != nil {
			o.OnWait(lockHolder(path))
			told = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d: %s\n", os.Getpid(), o.Cmdline)), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockHolder reads who holds the lock, as its holder recorded it.
func lockHolder(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "unknown holder"
}
