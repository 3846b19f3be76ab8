package pcibind

import (
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
