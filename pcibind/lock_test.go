package pcibind

import (
	"os/exec"
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
