package hotplug

import (
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Issue 25 listed hides without libxl (pciback through sysfs, on a host
// with no hypervisor) as not journalled. They are (the record names the
// stub, pcibind's own record the original driver): killed after each of
// its writes, the hide is finished by recover, and no record is left.
func TestHideWithoutLibxlIsJournaled(t *testing.T) {
	points := 0
	for at := 1; ; at++ {
		w := newCrashWorld(t)
		w.n, w.at = 0, at
		_, died := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
			svc.ts, svc.tsErr = nil, xl.ErrNoHypervisor
			_, err := svc.AssignableAdd(AssignableRequest{Device: w.dev["nic"]})
			return err
		})
		w.at = 0
		if !died {
			break
		}
		points++
		if len(w.journalFiles()) == 0 && w.k.Driver(w.dev["nic"]) != "e1000e" {
			t.Errorf("killed after step %d (%s): the device moved and no record says so", at, w.where)
		}
		err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
			svc.ts, svc.tsErr = nil, xl.ErrNoHypervisor
			_, err := svc.Recover(false)
			return err
		})
		if err != nil {
			t.Fatalf("killed after step %d (%s), recover: %v", at, w.where, err)
		}
		if d := w.k.Driver(w.dev["nic"]); d != pcibind.DriverPciback {
			t.Errorf("killed after step %d (%s), then recover: nic on %q, want pciback", at, w.where, d)
		}
		if got := w.journalFiles(); len(got) != 0 {
			t.Errorf("killed after step %d: records left %v", at, got)
		}
	}
	if points < 3 {
		t.Errorf("only %d kill points", points)
	}
}
