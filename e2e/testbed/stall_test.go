package testbed

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A serial log that stops growing ends the boot; one that grows does not.
func TestWatchStallKillsASilentBootOnly(t *testing.T) {
	log := filepath.Join(t.TempDir(), "serial.log")
	if err := os.WriteFile(log, []byte("Xen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var killed atomic.Bool
	stalled := watchStall(ctx, log, 600*time.Millisecond, func() { killed.Store(true) })
	// Growing for 1.5 s: alive.
	for i := 0; i < 8; i++ {
		time.Sleep(200 * time.Millisecond)
		f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("more\n")
		f.Close()
	}
	if killed.Load() || stalled() != 0 {
		t.Fatalf("a growing log was taken for a stall (%s)", stalled())
	}
	// Then silent: killed within about after + a tick.
	deadline := time.Now().Add(3 * time.Second)
	for !killed.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !killed.Load() || stalled() < 600*time.Millisecond {
		t.Fatalf("a silent log was not a stall: killed %v, stalled %s", killed.Load(), stalled())
	}
}
