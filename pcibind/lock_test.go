package pcibind

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLockExcludesAnotherHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock(1) from util-linux stands in for a second xlpt process.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	if err := exec.Command("flock", "-n", dir+"/lock", "true").Run(); err == nil {
		t.Fatal("a second process got the lock while it was held")
	}
	unlock()
	done := make(chan error, 1)
	go func() { done <- exec.Command("flock", "-w", "5", dir+"/lock", "true").Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("lock not released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

func TestLockSaysForWhomItWaitsOnce(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockWith(dir, LockOptions{Cmdline: "xlpt pci-attach hvm1 00:06.0"})
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	go func() { time.Sleep(1500 * time.Millisecond); unlock() }()
	// flock is per open file description: a second open in this process
	// waits like another process would.
	unlock2, err := LockWith(dir, LockOptions{Timeout: 10 * time.Second, OnWait: func(h string) { told = append(told, h) }})
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	if len(told) != 1 || !strings.Contains(told[0], "xlpt pci-attach hvm1 00:06.0") || !strings.Contains(told[0], fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("told %q; want the holder's pid and command line, once", told)
	}
}

func TestLockTimesOutNamingHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockWith(dir, LockOptions{Cmdline: "xlpt stuck"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = LockWith(dir, LockOptions{Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "xlpt stuck") || !strings.Contains(err.Error(), "300ms") {
		t.Errorf("error %v; want the holder and the limit", err)
	}
}

func TestDeadHolderDoesNotBlock(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/lock", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A holder killed with SIGKILL while holding the lock (-o: the
	// command it runs does not inherit the lock).
	cmd := exec.Command("flock", "-o", dir+"/lock", "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := LockWith(dir, LockOptions{Timeout: 200 * time.Millisecond}); err == nil {
		t.Fatal("got the lock while a live process held it")
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL) // flock, the holder
	_ = cmd.Wait()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // and its sleep
	unlock, err := LockWith(dir, LockOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("a dead holder blocked: %v", err)
	}
	unlock()
}

// The lock names only its live holder: an earlier run's line is cleared
// when it lets go, and a holder that is not xlpt (flock(1) here) is named
// from /proc/locks, not from what the last xlpt run wrote (issue 22).
func TestLockNamesOnlyItsLiveHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockWith(dir, LockOptions{Cmdline: "xlpt pci-attach long-ago"})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if b, _ := os.ReadFile(dir + "/lock"); len(b) != 0 {
		t.Errorf("after release the lock file still says %q", b)
	}
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	// A stale line from a run that was killed (no release), then a holder
	// that records nothing.
	if err := os.WriteFile(dir+"/lock", []byte("pid 999999999: xlpt pci-attach long-ago\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("flock", "-o", dir+"/lock", "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command("flock", "-n", dir+"/lock", "true").Run() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_, err = LockWith(dir, LockOptions{Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("got the lock while flock(1) held it")
	}
	msg := err.Error()
	if strings.Contains(msg, "long-ago") || !strings.Contains(msg, fmt.Sprintf("pid %d", cmd.Process.Pid)) || !errors.Is(err, ErrLockBusy) {
		t.Errorf("error %q; want the live holder, pid %d, and not the dead run's line", msg, cmd.Process.Pid)
	}
	if strings.Contains(msg, "resource temporarily unavailable") {
		t.Errorf("error %q ends in the errno's words", msg)
	}
}
