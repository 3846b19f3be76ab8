package hotplug

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

func TestPersistParseFormat(t *testing.T) {
	in := `# comment
assignable 0000:00:03.0 8086:10d3 original=e1000e name=nic1   # trailing comment
sriov 00:09.0 1b36:0010 vfs=2 autoprobe=0

assignable 0000:00:09.1 1b36:0010 driver=pci-stub vf=0000:00:09.0/0
`
	es, err := ParsePersist("f", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	p := &PersistFile{Path: "f", Entries: es}
	out := string(p.Bytes())
	body := strings.TrimPrefix(out, persistHeader)
	want := "sriov       0000:00:09.0  1b36:0010 vfs=2 autoprobe=0\n" +
		"assignable  0000:00:03.0  8086:10d3 driver=pciback name=nic1 original=e1000e\n" +
		"assignable  0000:00:09.1  1b36:0010 driver=pci-stub vf=0000:00:09.0/0\n"
	if body != want {
		t.Errorf("formatted:\n%s\nwant:\n%s", body, want)
	}
	again, err := ParsePersist("f", []byte(out))
	if err != nil || len(again) != 3 || again[2].PF == nil || again[2].VFIndex != 0 || *again[0].Autoprobe {
		t.Errorf("round trip: %+v %v", again, err)
	}
	for _, bad := range []struct{ line, want string }{
		{"hide 0000:00:03.0 8086:10d3", `kind "hide"`},
		{"assignable 0000:00:03 8086:10d3", "BDF"},
		{"assignable 03:00.* 8086:10d3", "one function"},
		{"assignable 0000:00:03.0 8086", "VENDOR:DEVICE"},
		{"assignable 0000:00:03.0", "want KIND BDF"},
		{"sriov 0000:00:09.0 1b36:0010", "vfs=N is missing"},
		{"sriov 0000:00:09.0 1b36:0010 vfs=0", "remove the line"},
		{"sriov 0000:00:09.0 1b36:0010 vfs=2 driver=pciback", "not a setting of sriov"},
		{"assignable 0000:00:03.0 8086:10d3 driver=vfio-pci", "pciback or pci-stub"},
		{"assignable 0000:00:03.0 8086:10d3 vf=0000:00:09.0", "PF-BDF/INDEX"},
		{"assignable 0000:00:03.0 8086:10d3 name=a name=b", "twice"},
		{"assignable 0000:00:03.0 8086:10d3\nassignable 0000:00:03.0 8086:10d3", "first on line 2"},
	} {
		_, err := ParsePersist("devices.conf", []byte("\n"+bad.line))
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "devices.conf:") {
			t.Errorf("%q: %v, want an error with the line and %q", bad.line, err, bad.want)
		}
	}
}

func TestPersistFileSaveLoadSetDrop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc-xlpt")
	p, err := LoadPersist(dir)
	if err != nil || len(p.Entries) != 0 {
		t.Fatalf("missing file: %+v %v", p, err)
	}
	pf := xl.PciBdf{Bus: 3}
	p.Set(PersistEntry{Kind: PersistSRIOV, BDF: pf, Vendor: 0x8086, Device: 0x1521, VFs: 4})
	for i := 0; i < 3; i++ {
		vf := xl.PciBdf{Bus: 3, Dev: 0x10, Func: uint8(i)}
		p.Set(PersistEntry{Kind: PersistAssignable, BDF: vf, Vendor: 0x8086, Device: 0x1520, PF: &pf, VFIndex: i})
	}
	p.Set(PersistEntry{Kind: PersistSRIOV, BDF: pf, Vendor: 0x8086, Device: 0x1521, VFs: 2})
	p.DropVFsOf(pf, 2)
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPersist(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Entries) != 3 || q.Entries[0].VFs != 2 {
		t.Errorf("reloaded %+v", q.Entries)
	}
	if !q.Drop(PersistSRIOV, pf) || q.Drop(PersistSRIOV, pf) {
		t.Error("Drop: first should find, second not")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

// restoreWorld persists an sriov line, its 2 VFs, a NIC and refused
// lines, as --persist would have written them, on a freshly "booted"
// host (no VFs, everything on dom0 drivers).
func restoreWorld(t *testing.T) (*sriovWorld, *PersistFile) {
	w := newSRIOVWorld(t)
	p := &PersistFile{Path: filepath.Join(t.TempDir(), PersistFileName)}
	off := false
	p.Set(PersistEntry{Kind: PersistSRIOV, BDF: w.pf, Vendor: 0x8086, Device: 0x1521, VFs: 2, Autoprobe: &off})
	vfs := []xl.PciBdf{{Bus: w.pf.Bus, Dev: 0x10}, {Bus: w.pf.Bus, Dev: 0x10, Func: 1}}
	for i, vf := range vfs {
		p.Set(PersistEntry{Kind: PersistAssignable, BDF: vf, Vendor: 0x8086, Device: 0x1520, PF: &w.pf, VFIndex: i})
	}
	p.Set(PersistEntry{Kind: PersistAssignable, BDF: w.nic, Vendor: 0x8086, Device: 0x10d3, Original: "e1000e", Name: "nic1"})
	return w, p
}

func outcomes(r RestoreResult) string {
	var s []string
	for _, it := range r.Items {
		s = append(s, it.BDF.String()+"="+it.Outcome)
	}
	return strings.Join(s, " ")
}

func TestRestoreIdempotent(t *testing.T) {
	w, p := restoreWorld(t)
	vf0 := xl.PciBdf{Bus: w.pf.Bus, Dev: 0x10}

	// The plan changes nothing.
	writes := len(w.k.Writes)
	plan := w.restore(t, p, true)
	if got := outcomes(plan); strings.Count(got, "=would_apply") != 4 || !strings.HasPrefix(got, w.pf.String()) {
		t.Errorf("plan: %s, want 4 would_apply, the sriov line first", got)
	}
	if !strings.Contains(plan.Items[0].Detail, "sriov_drivers_autoprobe=0; sriov_numvfs 0 -> 2") || len(w.k.Writes) != writes {
		t.Errorf("plan %+v; %d writes", plan.Items[0], len(w.k.Writes)-writes)
	}

	res := w.restore(t, p, false)
	if !res.OK() || strings.Count(outcomes(res), "=applied") != 4 {
		t.Fatalf("first restore: %+v", res.Items)
	}
	for _, b := range []xl.PciBdf{vf0, {Bus: w.pf.Bus, Dev: 0x10, Func: 1}, w.nic} {
		if d := w.k.Driver(b); d != pcibind.DriverPciback {
			t.Errorf("%s on %q after restore", b, d)
		}
	}
	if w.ts.pciback[w.nic] != "nic1" {
		t.Errorf("libxl names %v, want nic1 for %s", w.ts.pciback, w.nic)
	}
	writes = len(w.k.Writes)
	w.rescan(t)
	again := w.restore(t, p, false)
	if strings.Count(outcomes(again), "=already") != 4 || len(w.k.Writes) != writes {
		t.Errorf("second restore: %s, %d writes: %v", outcomes(again), len(w.k.Writes)-writes, w.k.Writes[writes:])
	}
}

// Every refusal: the device changed, is gone, is not the recorded VF, the
// PF cannot make VFs, the device is one dom0 needs or a guest holds. The
// other entries still apply.
func TestRestoreRefusals(t *testing.T) {
	w, p := restoreWorld(t)
	vf1 := xl.PciBdf{Bus: w.pf.Bus, Dev: 0x10, Func: 1}
	// The NIC is another model now; a missing device; VF 1 recorded as
	// VF 3; a VF recorded as a plain device.
	for i := range p.Entries {
		switch e := &p.Entries[i]; {
		case e.BDF == w.nic:
			e.Device = 0x1533
		case e.BDF == vf1:
			e.VFIndex = 3
		}
	}
	p.Set(PersistEntry{Kind: PersistAssignable, BDF: xl.PciBdf{Bus: 0x42}, Vendor: 0x8086, Device: 0x10d3})
	res := w.restore(t, p, false)
	want := map[xl.PciBdf][2]string{
		w.pf:                       {RestoreApplied, "sriov_numvfs 0 -> 2"},
		{Bus: w.pf.Bus, Dev: 0x10}: {RestoreApplied, "hidden from no driver"},
		vf1:                        {RestoreRefused, "is VF 1 of " + w.pf.String() + " now, recorded as VF 3"},
		w.nic:                      {RestoreRefused, "is 8086:10d3 now, not the recorded 8086:1533: the hardware changed"},
		{Bus: 0x42}:                {RestoreRefused, "no device at 0000:42:00.0"},
	}
	for _, it := range res.Items {
		wt, ok := want[it.BDF]
		if !ok || it.Outcome != wt[0] || !strings.Contains(it.Detail, wt[1]) {
			t.Errorf("%s: %s %q, want %s %q", it.BDF, it.Outcome, it.Detail, wt[0], wt[1])
		}
	}
	if res.OK() || len(res.Items) != len(want) {
		t.Errorf("OK()=%v with %d items", res.OK(), len(res.Items))
	}
	if d := w.k.Driver(w.nic); d != "e1000e" {
		t.Errorf("refused NIC moved to %q", d)
	}

	// A VF in a guest and a different count wanted: refused, naming it.
	w2, p2 := restoreWorld(t)
	if _, err := w2.svc.SetVFs(SRIOVRequest{PF: w2.pf, NumVFs: 3, Assignable: true}); err != nil {
		t.Fatal(err)
	}
	w2.ts.addDomain(7, "db01", xl.DomainTypePV)
	d := xl.NewDevicePci()
	d.PciBdf = xl.PciBdf{Bus: w2.pf.Bus, Dev: 0x10, Func: 2}
	w2.ts.domains[7].devs = []xl.DevicePci{d}
	w2.ts.xsDomid[d.PciBdf] = 7
	w2.rescan(t)
	res = w2.restore(t, p2, false)
	if it := res.Items[0]; it.Outcome != RestoreRefused || !strings.Contains(it.Detail, "db01") {
		t.Errorf("sriov line with a VF in a guest: %+v", it)
	}
	// A hidden PF cannot make VFs.
	w3, p3 := restoreWorld(t)
	if err := w3.write("bus/pci/drivers/igb/unbind", w3.pf.String()); err != nil {
		t.Fatal(err)
	}
	w3.rescan(t)
	if it := w3.restore(t, p3, false).Items[0]; it.Outcome != RestoreRefused || !strings.Contains(it.Detail, "no driver") {
		t.Errorf("PF without driver: %+v", it)
	}
}

func TestHideCmdlineSet(t *testing.T) {
	_, p := restoreWorld(t)
	p.Set(PersistEntry{Kind: PersistAssignable, BDF: xl.PciBdf{Bus: 5}, Driver: pcibind.DriverPciStub})
	set, notes := p.HideCmdlineSet()
	if len(set) != 1 || len(notes) != 3 || !strings.Contains(notes[0], "VF 0") || !strings.Contains(notes[2], "pci-stub") {
		t.Errorf("set %v notes %q", set, notes)
	}
}

// restore writes p where the service keeps the host setup and restores
// it.
func (w *sriovWorld) restore(t *testing.T, p *PersistFile, dryRun bool) RestoreResult {
	t.Helper()
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	w.svc.configDir = filepath.Dir(p.Path)
	res, err := w.svc.Restore(dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
