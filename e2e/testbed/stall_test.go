package testbed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// A request whose dom0 keeps writing to the console (its agent's ticks) is
// left alone; a silent one is called wedged, once, with ErrWedged.
func TestWatchWedgeCallsASilentDom0Wedged(t *testing.T) {
	log := filepath.Join(t.TempDir(), "serial.log")
	if err := os.WriteFile(log, []byte("Xen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var got atomic.Value
	watchWedge(ctx, log, 600*time.Millisecond, func(err error) { calls.Add(1); got.Store(err) })
	for i := 0; i < 8; i++ {
		time.Sleep(200 * time.Millisecond)
		f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("TESTBED: agent: request 7 still running\n")
		f.Close()
	}
	if calls.Load() != 0 {
		t.Fatalf("a console that grows was called wedged: %v", got.Load())
	}
	deadline := time.Now().Add(3 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if calls.Load() != 1 {
		t.Fatalf("a silent console: %d calls; want 1", calls.Load())
	}
	if err, _ := got.Load().(error); !errors.Is(err, ErrWedged) || !strings.Contains(err.Error(), "E2E-TESTBED-WEDGED: dom0 answered nothing") {
		t.Errorf("error %v; want ErrWedged with the marker e2e-run looks for", err)
	}
}

// A request that ends stops the watch: no call after ctx ends.
func TestWatchWedgeStopsWithTheRequest(t *testing.T) {
	log := filepath.Join(t.TempDir(), "serial.log")
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() { watchWedge(ctx, log, 600*time.Millisecond, func(error) { calls.Add(1) }); close(done) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	time.Sleep(700 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatalf("%d calls after the request ended", calls.Load())
	}
}
