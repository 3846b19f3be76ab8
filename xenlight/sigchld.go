package xenlight

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// sigchldForwarder tells libxl about SIGCHLD. libxl runs in
// libxl_sigchld_owner_mainloop mode, so Go keeps the signal and libxl reaps
// its own children (hotplug scripts, the lock helper) when told.
//
// occurred must not take the Context's call mutex: a synchronous libxl call
// holding it may be waiting for exactly the child this reports.
type sigchldForwarder struct {
	ch   chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup
}

func startSigchldForwarder(occurred func()) *sigchldForwarder {
	f := &sigchldForwarder{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(f.ch, syscall.SIGCHLD)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			select {
			case <-f.ch:
				occurred() // one call reaps every exited child, so coalesced signals are fine
			case <-f.done:
				return
			}
		}
	}()
	return f
}

// stop returns once occurred will not be called again.
func (f *sigchldForwarder) stop() {
	signal.Stop(f.ch)
	close(f.done)
	f.wg.Wait()
}
