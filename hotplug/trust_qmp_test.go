package hotplug

import (
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// Issue 25: QEMU's word is one view among libxl's; recovery acts on a
// device QEMU says it has only when libxl (its list or its /libxl/pci
// record) or an xlpt record already places it in that guest, and it
// reads QEMU's ids (pci-pt-BB_DD.F, no segment) with the segment of that
// placement.

// A device model that "has" a device dom0 drives (nothing places it in
// that guest) does not make recover hide the dom0 NIC.
func TestRecoverDoesNotHideWhatOnlyQEMUClaims(t *testing.T) {
	w := newWorld(t, map[string]string{"nic3": "e1000e"})
	nic3 := w.bdf["nic3"]
	w.ts.staleInDM[1] = map[uint8]xl.PciBdf{uint8(xl.Vdevfn(6, 0)): nic3}
	w.ts.calls = nil
	rep, err := w.svc.Recover(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.ts.calls {
		if strings.HasPrefix(c, "assignable-add ") || strings.HasPrefix(c, "dm-remove ") {
			t.Errorf("recover acted on QEMU's word alone: %v", w.ts.calls)
		}
	}
	if _, hidden := w.ts.pciback[nic3]; hidden {
		t.Errorf("%s was hidden", nic3)
	}
	if said := repairsText(rep); !strings.Contains(said, "left alone") || !strings.Contains(said, "pci-pt-") {
		t.Errorf("recover does not say what it left alone:\n%s", said)
	}
}

// A device in PCI segment 1 that hvm1 holds consistently: QEMU's id for
// it (pci-pt-01_00.0) reads as segment 0, where nic1 sits. Recovery must
// neither take the guest's device out nor touch nic1.
func TestRecoverReadsQEMUIdsWithTheirSegment(t *testing.T) {
	w := newWorld(t, nil)
	seg1 := w.bdf["nic1"]
	seg1.Domain = 1
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask, d.Vdevfn = seg1, 1, xl.Vdevfn(6, 0)
	w.ts.place(1, d)
	w.ts.calls = nil
	if _, err := w.svc.Recover(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.ts.calls {
		if strings.HasPrefix(c, "destroy ") || strings.HasPrefix(c, "remove ") || strings.HasPrefix(c, "dm-remove ") || strings.HasPrefix(c, "assignable-add ") {
			t.Errorf("recover changed a consistent host: %v", w.ts.calls)
		}
	}
	if !w.ts.listed(1, seg1) {
		t.Errorf("%s was taken out of hvm1", seg1)
	}
}
