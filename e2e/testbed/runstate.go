package testbed

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// scripts/testbed/run leaves two files beside its control socket, so that
// a client waiting on the socket learns at once that QEMU is gone instead
// of waiting out its timeout:
//
//	SOCK.pid   the run script's pid, written before QEMU starts
//	SOCK.exit  "rc=N seconds=S log=PATH", written when QEMU has exited
//
// (A crash of QEMU closes the socket; without these a waiting client sees
// only "connection refused", the same as before QEMU has opened it.)

// ErrQEMUExited is wrapped by the errors Exited returns.
var ErrQEMUExited = errors.New("QEMU exited")

// Exited reports whether the testbed whose control socket is sock has
// stopped: nil while it runs (or before it started), else an error naming
// QEMU's exit status (the signal that ended it, if any) and the serial log's
// last lines.
func Exited(sock string) error {
	if b, err := os.ReadFile(sock + ".exit"); err == nil {
		st := parseExit(string(b))
		return fmt.Errorf("testbed: %w (%s) after %ss\n%s", ErrQEMUExited, DescribeRC(st["rc"]), st["seconds"], tail(st["log"], 20))
	}
	b, err := os.ReadFile(sock + ".pid")
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testbed: %w: its run script (pid %d) is gone without recording QEMU's exit status", ErrQEMUExited, pid)
	}
	return nil
}

func parseExit(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// DescribeRC names an exit status of QEMU as the run script reports it
// (timeout(1)'s: 124 for the wall-time limit, 128+N for signal N).
func DescribeRC(rc string) string {
	n, err := strconv.Atoi(rc)
	switch {
	case err != nil:
		return "exit status unknown"
	case n == 0:
		return "exit status 0: dom0 powered off or rebooted"
	case n == 124:
		return "exit status 124: the run's wall-time limit (--timeout) expired"
	case n > 128 && n < 128+65:
		return fmt.Sprintf("exit status %d: killed by %s (%s)", n, unix.SignalName(syscall.Signal(n-128)), syscall.Signal(n-128))
	default:
		return fmt.Sprintf("exit status %d", n)
	}
}

// Crashed reports whether rc (as in SOCK.exit) is QEMU dying of a fault of
// its own (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE): the emulator flake a
// boot is retried once for. A SIGTERM or SIGKILL is somebody stopping it.
func Crashed(rc int) bool {
	switch syscall.Signal(rc - 128) {
	case syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGABRT, syscall.SIGILL, syscall.SIGFPE:
		return rc > 128
	}
	return false
}

func tail(path string, n int) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(serial log %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(lines), path, strings.Join(lines, "\n"))
}
