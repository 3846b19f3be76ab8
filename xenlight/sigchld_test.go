package xenlight

import (
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

func TestSigchldForwarder(t *testing.T) {
	var calls atomic.Int32
	f := startSigchldForwarder(func() { calls.Add(1) })
	if err := exec.Command("true").Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f.stop()
	if calls.Load() == 0 {
		t.Fatal("SIGCHLD of an exited child was not forwarded")
	}
	after := calls.Load()
	if err := exec.Command("true").Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != after {
		t.Error("forwarded after stop")
	}
}
