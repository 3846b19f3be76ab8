package hotplug

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// forcedOut attaches nic1 to hvm1 and forces it out while the guest does
// not release it (its QEMU keeps it, as on the testbed); it returns the
// detach's notes.
func forcedOut(t *testing.T, w *world) []string {
	t.Helper()
	w.svc.stateDir = t.TempDir()
	if _, err := w.attach("hvm1", "nic1", 6); err != nil {
		t.Fatal(err)
	}
	w.ts.removeTimeout = true
	res, err := w.svc.Detach(DetachRequest{Domain: "hvm1", Device: w.spec("nic1", 0), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	w.ts.removeTimeout = false
	return res.Notes
}

func leftoverFiles(t *testing.T, w *world) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(w.svc.stateDir, "leftovers", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Xen 4.20: libxl's forced remove revoked the guest's permission, so
// QEMU's unmap fails and the mappings stay while the domain lives.
func TestForcedDetachOfAnUnreleasedDeviceGuardsTheGuestUntilItIsDestroyed(t *testing.T) {
	w := newWorld(t, nil)
	w.ts.xen = [2]int{4, 20}
	notes := forcedOut(t, w)
	nic1 := w.bdf["nic1"].String()
	if len(notes) == 0 || !strings.Contains(notes[0], "hvm1 never released "+nic1) || !strings.Contains(notes[0], "for as long as it runs") {
		t.Fatalf("notes %q: want the leftover explained first", notes)
	}
	if n := len(leftoverFiles(t, w)); n != 1 {
		t.Fatalf("%d leftover records, want 1", n)
	}
	_, err := w.attach("hvm1", "nic2", 7)
	mustFail(t, err, ErrLeftoverMappings, "hvm1 still maps the memory of "+nic1, "restart hvm1")
	_, err = w.attach("hvm2", "nic1", 6)
	mustFail(t, err, ErrLeftoverMappings, nic1+" was forced out of hvm1", "restart hvm1")
	mustFail(t, w.svc.refuseLeftoverRelease(w.bdf["nic1"]), ErrLeftoverMappings, "before giving "+nic1)
	// Another device to another guest is not its business.
	if _, err := w.attach("hvm2", "nic2", 6); err != nil {
		t.Fatalf("attach nic2 to hvm2: %v", err)
	}
	// The ejected guest's QEMU has let go; the mappings stay all the same.
	w.ts.ejectedLate(1, w.bdf["nic1"])
	_, err = w.attach("hvm1", "nic3", 7)
	mustFail(t, err, ErrLeftoverMappings, "restart hvm1")

	// hvm1 restarted: a new domain under the same name.
	delete(w.ts.domains, 1)
	w.ts.addDomain(4, "hvm1", xl.DomainTypeHVM)
	if _, err := w.attach("hvm1", "nic3", 7); err != nil {
		t.Fatalf("attach to the restarted hvm1: %v", err)
	}
	if err := w.svc.refuseLeftoverRelease(w.bdf["nic1"]); err != nil {
		t.Fatalf("release after the restart: %v", err)
	}
	if files := leftoverFiles(t, w); len(files) != 0 {
		t.Errorf("records of a destroyed domain kept: %v", files)
	}
}

// The same domid under another UUID is another guest: the record is not
// its.
func TestLeftoverOfADomidNowAnotherGuestsIsDropped(t *testing.T) {
	w := newWorld(t, nil)
	w.ts.domains[1].info.UUID = [16]byte{1}
	forcedOut(t, w)
	w.ts.domains[1].info.UUID = [16]byte{2}
	if _, err := w.attach("hvm1", "nic2", 7); err != nil {
		t.Fatalf("attach: %v", err)
	}
}

// Xen 4.17's libxl keeps the permission: QEMU's unmap works once the
// guest ejects the device, and the record ends there.
func TestOn417TheLeftoverEndsWithTheGuestsEject(t *testing.T) {
	w := newWorld(t, nil)
	w.ts.xen = [2]int{4, 17}
	notes := forcedOut(t, w)
	if len(notes) == 0 || !strings.Contains(notes[0], "until the guest ejects it") {
		t.Fatalf("notes %q", notes)
	}
	_, err := w.attach("hvm1", "nic2", 7)
	mustFail(t, err, ErrLeftoverMappings, "restart hvm1")
	w.ts.ejectedLate(1, w.bdf["nic1"])
	if _, err := w.attach("hvm1", "nic2", 7); err != nil {
		t.Fatalf("attach after the eject: %v", err)
	}
	if files := leftoverFiles(t, w); len(files) != 0 {
		t.Errorf("record kept after the eject: %v", files)
	}
}

// A forced detach the guest did release leaves nothing behind.
func TestForcedDetachOfAReleasedDeviceLeavesNoRecord(t *testing.T) {
	w := newWorld(t, nil)
	w.svc.stateDir = t.TempDir()
	if _, err := w.attach("hvm1", "nic1", 6); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.Detach(DetachRequest{Domain: "hvm1", Device: w.spec("nic1", 0), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(res.Notes, "\n"), "never released") {
		t.Errorf("notes %q", res.Notes)
	}
	if _, err := os.Stat(filepath.Join(w.svc.stateDir, "leftovers")); err == nil {
		t.Errorf("a record was written: %v", leftoverFiles(t, w))
	}
	if _, err := w.attach("hvm1", "nic2", 7); err != nil {
		t.Fatalf("attach: %v", err)
	}
}
