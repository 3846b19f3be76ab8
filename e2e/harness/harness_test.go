//go:build e2e

// Package harness tests the testbed's tools themselves, not xlpt: that a
// QEMU that dies is noticed at once.
package harness

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// qemuOf finds the pid of the QEMU whose command line contains marker.
func qemuOf(marker string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.HasPrefix(b, []byte("qemu-system-x86_64\x00")) || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		return pid
	}
	return 0
}

// TestDemoFailsFastWhenQEMUIsKilled: make demo's boot, with QEMU killed by
// a signal a few seconds into it, ends within 15 s with QEMU's exit status
// and the signal named (it used to wait out tbctl's ten minutes).
func TestDemoFailsFastWhenQEMUIsKilled(t *testing.T) {
	repo, err := testbed.FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.Build(repo, os.Stderr); err != nil {
		t.Fatal(err)
	}
	demo := exec.Command(filepath.Join(repo, "scripts", "testbed", "demo"), "--no-build")
	demo.Dir = repo
	var out bytes.Buffer
	demo.Stdout, demo.Stderr = &out, &out
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-demo.Process.Pid, syscall.SIGKILL)
	done := make(chan error, 1)
	go func() { done <- demo.Wait() }()

	// The demo's QEMU: its control socket is in the demo's own directory.
	var pid int
	for deadline := time.Now().Add(60 * time.Second); pid == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no QEMU of the demo after 60 s:\n%s", out.String())
		}
		pid = qemuOf("/xlpt-demo-")
	}
	time.Sleep(5 * time.Second) // mid-boot: Xen or dom0 coming up
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		took := time.Since(killed)
		t.Logf("the demo ended %.1fs after QEMU was killed (%v):\n%s", took.Seconds(), err, out.String())
		if err == nil {
			t.Errorf("the demo exited 0 though QEMU died")
		}
		if took > 15*time.Second {
			t.Errorf("the demo took %.1fs to notice; want 15 s at most", took.Seconds())
		}
		for _, want := range []string{"QEMU exited", "killed by SIGKILL", "dom0 did not come up"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the demo's output lacks %q", want)
			}
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo still waits 60 s after QEMU was killed:\n%s", out.String())
	}
}

// TestAStoppedDom0IsCalledWedged: a request that runs longer than
// WedgeAfter on a live dom0 finishes (its agent's console lines say it
// runs; a tick of 3 s here, 15 s by default, keeps the test short); the same request on a dom0 that stopped (QEMU stopped with
// SIGSTOP: no console line, no answer) fails within WedgeAfter and a
// tick with ErrWedged, and QEMU is gone (in CI a dom0 stopped once for
// 28 minutes, until QEMU's own time limit).
func TestAStoppedDom0IsCalledWedged(t *testing.T) {
	ctx := context.Background()
	const after = 12 * time.Second
	tb, err := testbed.Boot(ctx, testbed.Options{Name: "wedge", WedgeAfter: after, Dom0Append: "xlpt.tick=3", Output: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()

	t0 := time.Now()
	r, err := tb.RunResult(ctx, "sleep 20; echo slept")
	if err != nil || r.Exit != 0 || strings.TrimSpace(r.Stdout) != "slept" {
		t.Fatalf("a 20 s request on a live dom0 (WedgeAfter %s): %+v, %v", after, r, err)
	}
	log, _ := os.ReadFile(tb.Log)
	if !bytes.Contains(log, []byte("still running")) {
		t.Errorf("the serial log has no line of the agent while the request ran")
	}
	t.Logf("a live dom0: the 20 s request finished after %.1fs", time.Since(t0).Seconds())

	pid := qemuOf(tb.Log)
	if pid == 0 {
		t.Fatal("no QEMU with the testbed's serial log on its command line")
	}
	done := make(chan error, 1)
	go func() {
		_, err := tb.RunResult(ctx, "sleep 600")
		done <- err
	}()
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	select {
	case err := <-done:
		took := time.Since(stopped)
		t.Logf("the request failed %.1fs after QEMU stopped: %v", took.Seconds(), err)
		if !errors.Is(err, testbed.ErrWedged) || !strings.Contains(err.Error(), "E2E-TESTBED-WEDGED: dom0 answered nothing") {
			t.Errorf("error %v; want ErrWedged with e2e-run's marker", err)
		}
		if took > after+10*time.Second {
			t.Errorf("noticed after %.1fs; want WedgeAfter (%s) and a tick or two", took.Seconds(), after)
		}
		if qemuOf(tb.Log) != 0 {
			t.Errorf("QEMU still there after the wedge")
		}
	case <-time.After(after + 90*time.Second):
		t.Fatalf("the request on a stopped dom0 still pending %s after the stop", after+90*time.Second)
	}
}
