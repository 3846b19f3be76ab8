package hotplug

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlpt/xlpt/pcibind"
)

// Issue 25: SIGINT or SIGTERM during a change, the host lock held: the
// run finishes or undoes it through its journal record, as recovery
// would settle it (an attach is undone, a hide or an SR-IOV change
// finished), and no record is left.
func TestSignalDuringAChangeFinishesOrUndoesIt(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(w *crashWorld)
		op    func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error
		sig   syscall.Signal
		at    string // the step after which the signal comes
		undo  bool   // the command is undone (ErrInterrupted), else finished
		check func(w *crashWorld) error
	}{
		{"pci-assignable-add, SIGINT", nil, hide("nic"), syscall.SIGINT, "sysfs bus/pci/drivers/e1000e/unbind", false, func(w *crashWorld) error {
			w.mustBe("nic", inAssignable)
			return nil
		}},
		{"pci-attach --assign, SIGTERM", nil, attach("hvm1", "nic", 6, false, true), syscall.SIGTERM, "assignable-add: quarantine", true, func(w *crashWorld) error {
			w.mustBe("nic", inDom0)
			return nil
		}},
		{"pci-detach, SIGINT", func(w *crashWorld) { w.do(hide("mf.0", "mf.1")); w.do(attach("hvm1", "mf.*", 6, false, false)) }, detach("hvm1", "mf.*"), syscall.SIGINT,
			"remove: /libxl/pci domid", true, func(w *crashWorld) error {
				w.mustBe("mf.1", inAssignable) // detached first, kept
				w.mustBe("mf.0", inDomain(1))  // not asked yet
				return nil
			}},
		{"sriov 2 -> 3 through 0, SIGINT", func(w *crashWorld) { w.do(setVFs(2, true, false)) }, setVFs(3, true, false), syscall.SIGINT,
			"sysfs bus/pci/devices/" + "PF" + "/sriov_numvfs", false, func(w *crashWorld) error { return w.vfsAre(3, false, true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newCrashWorld(t)
			if c.setup != nil {
				c.setup(w)
			}
			svc, sys := w.process()
			svc.stateDir, svc.lockTimeout = w.state, 5*time.Second
			var said []string
			svc.logger = quietLogger(func(msg string) { said = append(said, msg) })
			at := strings.Replace(c.at, "PF", w.dev["pf"].String(), 1)
			sent := false
			w.onStep = func(what string) {
				if sent || what != at {
					return
				}
				sent = true
				if err := syscall.Kill(os.Getpid(), c.sig); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); svc.interruptedBy() == nil && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
			}
			err := c.op(w, svc, sys)
			w.onStep = nil
			if !sent {
				t.Fatalf("the run never reached %q", at)
			}
			switch {
			case c.undo && !errors.Is(err, ErrInterrupted):
				t.Fatalf("%v; want ErrInterrupted", err)
			case !c.undo && err != nil:
				t.Fatalf("%v; want the change finished", err)
			case !c.undo && !strings.Contains(strings.Join(said, "\n"), "finished first"):
				t.Errorf("the run did not say it finished first: %q", said)
			}
			if err := c.check(w); err != nil {
				t.Error(err)
			}
			if got := w.journalFiles(); len(got) != 0 {
				t.Errorf("records left: %v", got)
			}
		})
	}
}
