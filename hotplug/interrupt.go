package hotplug

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// SIGINT and SIGTERM while a run holds the host lock: the run is not cut
// short between two writes. The signal is noted, and the operation is
// finished or undone as recovery would settle its journal record:
//   - before any operation has begun, nothing begins (ErrInterrupted);
//   - an attach or a detach stops at its next journal step, which returns
//     ErrInterrupted, and undoes what it did as after any failure (an
//     attach is all or none; a detach leaves each function consistently
//     where it is);
//   - a hide, a give-back, an SR-IOV change or a restore runs to its
//     end, as recovery would finish it, and says so.
// A second signal kills the run as the first would have: the record is
// left for the next run to finish or undo, as after SIGKILL.

// ErrInterrupted says the run was asked to stop (SIGINT, SIGTERM) and
// stopped at its next step, undoing what it had done.
var ErrInterrupted = errors.New("interrupted")

// interrupt is the signal handling of one hold of the host lock.
type interrupt struct {
	ch        chan os.Signal
	done      chan struct{}
	got       atomic.Value // os.Signal: the first signal
	delivered atomic.Bool  // ErrInterrupted was returned once
}

// catchSignals takes SIGINT and SIGTERM over until stop.
func (s *Service) catchSignals() (stop func()) {
	in := &interrupt{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(in.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for {
			select {
			case sig := <-in.ch:
				if in.got.CompareAndSwap(nil, sig) {
					continue
				}
				// Asked twice: die of it, as without xlpt's handling.
				signal.Reset(sig)
				if ss, ok := sig.(syscall.Signal); ok {
					_ = syscall.Kill(os.Getpid(), ss)
				}
			case <-in.done:
				return
			}
		}
	}()
	s.intr = in
	return func() {
		signal.Stop(in.ch)
		close(in.done)
		if sig, _ := in.got.Load().(os.Signal); sig != nil && !in.delivered.Load() {
			s.log().Say(fmt.Sprintf("got %v: the change was finished first (stopped half-way, it would leave the host inconsistent)", sig))
		}
		s.intr = nil
	}
}

// interruptedBy is the signal this run was asked to stop by, nil if none.
func (s *Service) interruptedBy() os.Signal {
	if s.intr == nil {
		return nil
	}
	sig, _ := s.intr.got.Load().(os.Signal)
	return sig
}

// interruption is ErrInterrupted, the first time it is asked after a
// signal: the step that asks stops there, and its undo (which asks
// again) runs to its end.
func (s *Service) interruption() error {
	sig := s.interruptedBy()
	if sig == nil || !s.intr.delivered.CompareAndSwap(false, true) {
		return nil
	}
	return fmt.Errorf("%w by %v: this run stopped at its next step, and undid what it had done", ErrInterrupted, sig)
}
