package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options of Boot. The zero value boots the standard testbed.
type Options struct {
	// Repo is the root of the xlpt tree (default: found from the working
	// directory by looking for go.mod).
	Repo string
	// Log is the serial log file (default build/testbed/logs/NAME-DATE.log).
	Log string
	// Name tags the default log file name (default "testbed").
	Name string
	// XenAppend and Dom0Append are appended to Xen's and dom0's command lines.
	XenAppend, Dom0Append string
	// NoBootHide boots without xen-pciback.hide=(0000:00:07.0).
	NoBootHide bool
	// Dom0Overlay is a directory whose files are added to dom0's root
	// (e.g. an /etc/xlpt carried from an earlier boot).
	Dom0Overlay string
	// Disk boots the systemd dom0 (scripts/testbed/dom0-disk) from this
	// qcow2 overlay of its image (made when missing); the machine then
	// reboots when dom0 does (see Reboot).
	Disk string
	// Share is a host directory dom0 can mount read-only (9p, tag
	// xlpt.share).
	Share string
	// Net joins this testbed to another (the two-host testbed): "PORT:PEER",
	// two UDP ports on 127.0.0.1 (run --net). Give dom0 its address with
	// Dom0Append "xlpt.ip=192.0.2.N/24 xlpt.hostname=NAME".
	Net string
	// Layout "b" moves the passthrough devices of slots 05, 06, 08, 09 and
	// 0a to 15, 16, 18, 19 and 1a (run --layout): a second host whose
	// devices sit at other addresses.
	Layout string
	// Timeout bounds QEMU's whole run (default 40 minutes).
	Timeout time.Duration
	// StallAfter ends a boot whose serial log has not grown for this
	// long (default 150 s; a boot takes 15-60 s, with output all along):
	// dom0 hung under the emulator (seen once in the dom0 kernel's ACPI
	// PnP set-up, QEMU spinning for the 40 minutes of its limit).
	StallAfter time.Duration
	// WedgeAfter ends the run when a request has been pending this long
	// and the serial log has not grown for as long (default 3 minutes):
	// tb-agent writes a line to the console every 15 s (xlpt.tick) while
	// a request runs, so the silence means dom0 stopped, not a slow command (once
	// in CI: 28 minutes lost to it until QEMU's own limit).
	WedgeAfter time.Duration
	// Output receives the run script's own output (default: discarded).
	Output io.Writer
}

// Testbed is a running Xen host in QEMU with a connected Client.
type Testbed struct {
	*Client
	// Log is the path of the serial log (Xen, dom0 kernel, dom0 /init).
	Log string
	// BootTime is the time from starting QEMU to the dom0 agent's hello.
	BootTime time.Duration
	// Retried says why the boot was done twice ("" when it was not).
	Retried string
	// WedgeAfter is Options.WedgeAfter.
	WedgeAfter time.Duration

	cmd    *exec.Cmd
	dir    string        // temporary directory holding the socket
	sock   string        // the control socket
	exited chan struct{} // closed when the run script exits
	runErr error
}

// FindRepo returns the directory above dir (inclusive) holding go.mod.
func FindRepo(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("testbed: no go.mod above %s", dir)
		}
		d = p
	}
}

// Dir is where the testbed's build output is: $TESTBED_DIR (the Makefile
// sets it; XEN=4.20 uses build/testbed-4.20), else build/testbed.
func Dir(repo string) string {
	if d := os.Getenv("TESTBED_DIR"); d != "" {
		return d
	}
	return filepath.Join(repo, "build", "testbed")
}

// Build builds the testbed (cached: usually it only repacks xlpt) with the
// command the Makefile names in $TESTBED_BUILD (for XEN=4.20 the build
// inside the Debian 13 root), else scripts/testbed/build.
func Build(repo string, out io.Writer) error {
	cmd := exec.Command(filepath.Join(repo, "scripts", "testbed", "build"))
	if b := os.Getenv("TESTBED_BUILD"); b != "" {
		cmd = exec.Command("sh", "-c", b)
	}
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testbed build (%s): %w", cmd.String(), err)
	}
	if _, err := os.Stat(filepath.Join(Dir(repo), "xlpt")); err != nil {
		return fmt.Errorf("xlpt did not build (see the warning above): %w", err)
	}
	return nil
}

// BuildDisk makes (or finds up to date) the systemd dom0's disk image of
// the testbed in Dir(repo): scripts/testbed/dom0-disk, cached by its inputs.
func BuildDisk(repo string, out io.Writer) error {
	cmd := exec.Command(filepath.Join(repo, "scripts", "testbed", "dom0-disk"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, out, out
	cmd.Env = append(os.Environ(), "TESTBED_DIR="+Dir(repo))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testbed: the systemd dom0's disk (%s): %w", cmd.String(), err)
	}
	return nil
}

func (o *Options) setDefaults() error {
	if o.Repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.Repo, err = FindRepo(wd); err != nil {
			return err
		}
	}
	if o.Name == "" {
		o.Name = "testbed"
	}
	if o.StallAfter == 0 {
		o.StallAfter = 150 * time.Second
	}
	if o.Log == "" {
		o.Log = filepath.Join(Dir(o.Repo), "logs",
			o.Name+"-"+time.Now().Format("20060102-150405")+".log")
	}
	if o.WedgeAfter == 0 {
		o.WedgeAfter = 3 * time.Minute
	}
	if o.Timeout == 0 {
		o.Timeout = 40 * time.Minute
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	return nil
}

// runArgs are scripts/testbed/run's arguments for these options.
func (o *Options) runArgs(sock string) []string {
	args := []string{"--no-build", "--log", o.Log, "--ctl", sock,
		"--timeout", strconv.Itoa(int(o.Timeout.Seconds()))}
	if o.XenAppend != "" {
		args = append(args, "--xen-append", o.XenAppend)
	}
	if o.Dom0Append != "" {
		args = append(args, "--dom0-append", o.Dom0Append)
	}
	if o.NoBootHide {
		args = append(args, "--no-boot-hide")
	}
	if o.Dom0Overlay != "" {
		args = append(args, "--dom0-overlay", o.Dom0Overlay)
	}
	if o.Disk != "" {
		args = append(args, "--disk", o.Disk)
	}
	if o.Share != "" {
		args = append(args, "--share", o.Share)
	}
	if o.Net != "" {
		args = append(args, "--net", o.Net)
	}
	if o.Layout != "" {
		args = append(args, "--layout", o.Layout)
	}
	return args
}

// waitForSocket waits for the control socket, which appears when QEMU has
// started.
func (tb *Testbed) waitForSocket(ctx context.Context, sock string) error {
	for {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		select {
		case <-tb.exited:
			return fmt.Errorf("testbed: QEMU exited before its control socket appeared: %v", tb.runErr)
		case <-ctx.Done():
			return fmt.Errorf("testbed: waiting for QEMU: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Boot builds nothing (run scripts/testbed/build first): it starts
// scripts/testbed/run --no-build and waits, until ctx ends, for dom0's
// agent. The caller must Close the testbed.
//
// QEMU's exit during the boot ends the wait at once. When QEMU crashed on
// its own (a signal like SIGSEGV: seen once in dom0's PCI enumeration under
// TCG), Boot boots once more, says so on o.Output and in Retried, and keeps
// the first serial log.
func Boot(ctx context.Context, o Options) (*Testbed, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	tb, err := bootOnce(ctx, o)
	var ce *crashError
	if !errors.As(err, &ce) {
		return tb, err
	}
	first := o.Log
	o.Log = strings.TrimSuffix(o.Log, ".log") + "-retry.log"
	why := "QEMU crashed during the boot (" + DescribeRC(strconv.Itoa(ce.rc))
	if ce.stalled > 0 {
		why = fmt.Sprintf("the boot stalled (no serial output for %s", ce.stalled)
	}
	msg := fmt.Sprintf("%s; serial log %s); booted once more", why, first)
	fmt.Fprintf(o.Output, "testbed: %s\n", msg)
	tb, err = bootOnce(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w (and before that: %s)", err, msg)
	}
	tb.Retried = msg
	return tb, nil
}

// crashError is a boot that ended with QEMU killed by a fault signal, or
// stalled (killed by Boot's watch).
type crashError struct {
	rc      int
	stalled time.Duration
	err     error
}

func (e *crashError) Error() string { return e.err.Error() }
func (e *crashError) Unwrap() error { return e.err }

func bootOnce(ctx context.Context, o Options) (_ *Testbed, err error) {
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "xlpt-tb-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "ctl.sock")
	cmd := exec.Command(filepath.Join(o.Repo, "scripts", "testbed", "run"), o.runArgs(sock)...)
	cmd.Dir = o.Repo
	cmd.Stdout, cmd.Stderr = o.Output, o.Output
	// Own process group: Close can stop the script, timeout and QEMU together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testbed: start %s: %w", cmd.Path, err)
	}
	tb := &Testbed{Log: o.Log, WedgeAfter: o.WedgeAfter, cmd: cmd, dir: dir, sock: sock, exited: make(chan struct{})}
	go func() {
		tb.runErr = cmd.Wait()
		close(tb.exited)
	}()
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	stalled := watchStall(bctx, o.Log, o.StallAfter, tb.kill)
	defer func() {
		if err != nil {
			tb.kill()
			os.RemoveAll(dir)
			err = fmt.Errorf("%w\n%s", err, tb.LogTail(30))
			var ee *exec.ExitError
			if d := stalled(); d > 0 {
				err = &crashError{stalled: d, err: fmt.Errorf("testbed: the boot stalled: no serial output for %s: %w", d, err)}
			} else if errors.As(tb.runErr, &ee) && Crashed(ee.ExitCode()) {
				err = &crashError{rc: ee.ExitCode(), err: err}
			}
		}
	}()

	if err := tb.waitForSocket(bctx, sock); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(bctx)
	defer cancel()
	go func() {
		select {
		case <-tb.exited:
			cancel()
		case <-dctx.Done():
		}
	}()
	c, err := Dial(dctx, sock)
	if err != nil {
		select {
		case <-tb.exited:
			return nil, fmt.Errorf("testbed: QEMU exited during boot (%v): %w", tb.runErr, err)
		default:
			return nil, err
		}
	}
	tb.Client = c
	tb.BootTime = time.Since(start)
	return tb, nil
}

// watchStall kills the boot (kill) when the serial log at path has not
// grown for after; the returned function says how long it had been
// silent then (0: it was not). It stops with ctx.
func watchStall(ctx context.Context, path string, after time.Duration, kill func()) func() time.Duration {
	var mu sync.Mutex
	var silent time.Duration
	go func() {
		tick := min(5*time.Second, after/3)
		var size int64 = -1
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(tick):
			}
			if fi, err := os.Stat(path); err == nil && fi.Size() != size {
				size, last = fi.Size(), time.Now()
				continue
			}
			if d := time.Since(last); d >= after {
				mu.Lock()
				silent = d.Round(time.Second)
				mu.Unlock()
				kill()
				return
			}
		}
	}()
	return func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return silent
	}
}

// ErrWedged: dom0 stopped answering and writing to its console. The
// marker in its text is what scripts/e2e-run looks for.
var ErrWedged = errors.New("E2E-TESTBED-WEDGED")

// watchWedge calls wedged, once, when the serial log at path has not
// grown for after during a request (watchStall's watch, which ends a
// silent boot); it stops with ctx.
func watchWedge(ctx context.Context, path string, after time.Duration, wedged func(error)) {
	watchStall(ctx, path, after, func() {
		wedged(fmt.Errorf("%w: dom0 answered nothing and wrote nothing to its serial console for %s (its agent writes to it while a request runs)", ErrWedged, after))
	})
}

// LogTail returns the last n lines of the serial log.
func (tb *Testbed) LogTail(n int) string { return tail(tb.Log, n) }

// Close powers dom0 off (QEMU exits) and waits for QEMU; after 60 s it
// kills the run script's process group.
func (tb *Testbed) Close() error {
	if tb.Client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// The agent answers, then the background job powers dom0 off.
		_, _, _, _ = tb.Run(ctx, "(sleep 1; sync; poweroff -f) >/dev/null 2>&1 &")
		cancel()
		tb.Client.Close()
	}
	select {
	case <-tb.exited:
	case <-time.After(60 * time.Second):
		tb.kill()
	}
	os.RemoveAll(tb.dir)
	var ee *exec.ExitError
	if tb.runErr != nil && !errors.As(tb.runErr, &ee) {
		return tb.runErr
	}
	return nil
}

// kill stops the run script, timeout and QEMU (one process group), and
// returns once every one of them is gone: the script may exit before
// QEMU has.
func (tb *Testbed) kill() {
	pgid := tb.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	// A stopped QEMU (SIGSTOP) takes its SIGTERM only once continued.
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	deadline := time.After(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		select {
		case <-deadline:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-tb.exited
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	<-tb.exited
}

// Run is Client.Run, its error naming QEMU's exit and the serial log's tail
// when the channel closed because QEMU died.
func (tb *Testbed) Run(ctx context.Context, cmd string) (stdout, stderr string, exit int, err error) {
	r, err := tb.RunResult(ctx, cmd)
	return r.Stdout, r.Stderr, r.Exit, err
}

// RunResult is Client.RunResult, with Run's error. A dom0 that stops
// while the request runs (see Options.WedgeAfter) ends the run: QEMU is
// killed and the error is ErrWedged.
func (tb *Testbed) RunResult(ctx context.Context, cmd string) (Result, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	killed := make(chan struct{})
	if tb.WedgeAfter > 0 {
		watchWedge(wctx, tb.Log, tb.WedgeAfter, func(err error) {
			// The cause first: the request then fails with it, not with
			// the closed channel.
			cancel(err)
			tb.kill()
			close(killed)
		})
	}
	r, err := tb.Client.RunResult(wctx, cmd)
	if cause := context.Cause(wctx); err != nil && errors.Is(cause, ErrWedged) {
		<-killed // QEMU gone (a SIGKILL at most 10 s later)
		return r, fmt.Errorf("testbed: run %q: %w; QEMU stopped\n%s", cmd, cause, tb.LogTail(20))
	}
	if err != nil && errors.Is(err, ErrClosed) {
		select {
		case <-tb.exited:
			err = fmt.Errorf("%w: %w (%v)\n%s", err, ErrQEMUExited, tb.runErr, tb.LogTail(20))
		case <-time.After(3 * time.Second):
		}
	}
	return r, err
}

// Reboot reboots dom0 with cmd (e.g. "systemctl reboot"; the testbed must
// have been booted with Disk, else QEMU exits) and waits, until ctx ends,
// for the agent of the next boot: a new connection (the old one may hold
// requests the next agent would run) whose dom0 has another boot id.
func (tb *Testbed) Reboot(ctx context.Context, cmd string) error {
	before, _, _, err := tb.Run(ctx, "cat /proc/sys/kernel/random/boot_id")
	if err != nil {
		return err
	}
	if _, _, _, err := tb.Run(ctx, "("+cmd+") >/dev/null 2>&1 </dev/null &"); err != nil {
		return err
	}
	tb.Client.Close()
	tb.Client = nil
	for {
		select {
		case <-tb.exited:
			return fmt.Errorf("testbed: %w during the reboot (%v)\n%s", ErrQEMUExited, tb.runErr, tb.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("testbed: waiting for dom0 to come back from the reboot: %w\n%s", ctx.Err(), tb.LogTail(30))
		case <-time.After(2 * time.Second):
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := Dial(dctx, tb.sock)
		if err != nil {
			cancel()
			continue
		}
		r, err := c.RunResult(dctx, "cat /proc/sys/kernel/random/boot_id")
		cancel()
		if err == nil && r.Exit == 0 && r.Stdout != before {
			tb.Client = c
			return nil
		}
		c.Close()
	}
}

// The markers scripts/e2e-run looks for in a package's output to boot it
// again instead of reporting a failure (TestMarkersAreWhatE2ERunGreps).
const (
	// GuestDied starts the line of an HVM guest lost under the emulator
	// (a reset, a hang) that no step could resume.
	GuestDied  = "E2E-GUEST-DIED:"
	bootFailed = "E2E-BOOT-FAILED:"
)

// BootFailed is the line a package prints when its testbed did not boot
// (after Boot's own second try): scripts/e2e-run boots the package once
// more, as it does after an HVM guest's death, since no test ran.
func BootFailed(pkg string, err error) string {
	return fmt.Sprintf("%s %s: testbed boot: %v", bootFailed, pkg, err)
}
