package hotplug

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Xen's MSI-X hot-plug race (pauseForAttach): the guest is paused around
// libxl's add of a function with MSI-X to a running HVM guest, and only
// then. The crash matrix covers a run killed while the guest is paused.

// pauseCalls is the fake's pause, unpause and add calls, in order.
func pauseCalls(ts *fakeToolstack) string {
	var out []string
	for _, c := range ts.calls {
		if strings.HasPrefix(c, "pause ") || strings.HasPrefix(c, "unpause ") || strings.HasPrefix(c, "add ") {
			out = append(out, c)
		}
	}
	return strings.Join(out, "; ")
}

func TestHVMAttachOfAnMSIXDevicePausesTheGuestAroundTheAdd(t *testing.T) {
	w := newCrashWorld(t)
	w.do(hide("nic"))
	w.ts.calls = nil
	w.do(attach("hvm1", "nic", 7, false, false))
	want := fmt.Sprintf("pause 1; add %s; unpause 1", w.dev["nic"])
	if got := pauseCalls(w.ts); got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	if p := w.ts.domains[1].paused; p != 0 {
		t.Errorf("hvm1 left paused (%d)", p)
	}
}

func TestNoPauseForPVNonMSIXOrPausedGuests(t *testing.T) {
	for _, c := range []struct {
		name, dom, spec string
		pausedBefore    int
	}{
		{"PV guest", "pv1", "nic", 0},
		{"no MSI-X (MSI only)", "hvm1", "mf.*", 0},
		{"guest paused by its operator", "hvm1", "nic", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newCrashWorld(t)
			w.do(hide("nic", "mf.0", "mf.1"))
			w.ts.domains[1].paused = c.pausedBefore
			w.ts.calls = nil
			slot := uint8(6)
			if c.dom == "pv1" {
				slot = 0
			}
			w.do(attach(c.dom, c.spec, slot, false, false))
			if got := pauseCalls(w.ts); strings.Contains(got, "pause") {
				t.Errorf("calls %q: want no pause", got)
			}
			if p := w.ts.domains[1].paused; p != c.pausedBefore {
				t.Errorf("hvm1's pause count %d, want %d as before", p, c.pausedBefore)
			}
		})
	}
}

func TestFailedAttachStillUnpauses(t *testing.T) {
	w := newCrashWorld(t)
	w.do(hide("nic"))
	w.ts.fail["add "+w.dev["nic"].String()] = fmt.Errorf("injected: %w", xl.ErrFail)
	err, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error {
		return attach("hvm1", "nic", 7, false, false)(w, svc, sys)
	})
	if died || err == nil || !errors.Is(err, xl.ErrFail) {
		t.Fatalf("attach: %v (died %v); want libxl's failure", err, died)
	}
	if p := w.ts.domains[1].paused; p != 0 {
		t.Errorf("a failed attach left hvm1 paused (%d)", p)
	}
	if got := pauseCalls(w.ts); !strings.HasSuffix(got, "unpause 1") {
		t.Errorf("calls %q: want the unpause last", got)
	}
}

// The clean-up of QEMU's leftover (libxl 4.17 leaves a failed HVM add's
// device there) needs the guest running to acknowledge the eject: the
// pause is around libxl's add only. (It first was around the whole attach,
// and the testbed's stale-device scenario timed out on the paused guest.)
func TestLeftoverCleanupRunsWithTheGuestRunning(t *testing.T) {
	w := newCrashWorld(t)
	w.do(hide("nic"))
	w.ts.staleInDM[1] = map[uint8]xl.PciBdf{uint8(xl.Vdevfn(7, 0)): w.dev["nic"]}
	w.ts.calls = nil
	err, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error {
		return attach("hvm1", "nic", 7, false, false)(w, svc, sys)
	})
	if died || err != nil {
		t.Fatalf("attach over a leftover: %v (died %v); calls %v", err, died, w.ts.calls)
	}
	if p := w.ts.domains[1].paused; p != 0 {
		t.Errorf("hvm1 left paused (%d)", p)
	}
}
