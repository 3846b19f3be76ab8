//go:build e2e

// Package harness tests the testbed's tools themselves, not xlpt: that a
// QEMU that dies is noticed at once.
package harness

import (
	"bytes"
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
