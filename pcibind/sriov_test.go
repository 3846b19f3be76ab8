package pcibind_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

func (f *bfix) pf(t *testing.T) *pcitest.Func {
	t.Helper()
	for _, fn := range f.tree.Funcs {
		if fn.Node.TotalVFs > 0 && !fn.IsVF {
			return fn
		}
	}
	t.Fatal("no PF in the tree")
	return nil
}

// numvfsWrites are the values written to sriov_numvfs, in order.
func (f *bfix) numvfsWrites() []string {
	var out []string
	for _, w := range f.k.Writes {
		if strings.HasSuffix(w.Attr, "/sriov_numvfs") {
			out = append(out, w.Value)
		}
	}
	return out
}

// VF numbering: offset and stride from the capability give the same BDFs
// as the kernel's virtfn links, also when VFs spill onto the next bus, and
// a link that disagrees is reported.
func TestVFSlotsAgainstVirtfnLinks(t *testing.T) {
	topo := pcitest.Topology{Root: []*pcitest.Node{
		{Kind: pcitest.RootPort, Children: []*pcitest.Node{
			{Kind: pcitest.Endpoint, Vendor: 0x8086, Device: 0x1572, TotalVFs: 64, NumVFs: 40,
				VFOffset: 0xf0, VFStride: 2, VFDevice: 0x154c, Driver: "i40e"},
		}},
	}}
	tr, err := pcitest.Generate(pcitest.TempDir(t), topo)
	if err != nil {
		t.Fatal(err)
	}
	var pf *pcitest.Func
	var want []xl.PciBdf
	for _, fn := range tr.Funcs {
		if fn.Node.TotalVFs > 0 && !fn.IsVF {
			pf = fn
		}
		if fn.IsVF {
			want = append(want, fn.BDF)
		}
	}
	h, err := pcibind.New(tr.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	slots, err := h.VFSlots(pf.BDF)
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 40 {
		t.Fatalf("%d VF slots, want 40", len(slots))
	}
	spilled := false
	for i, s := range slots {
		if !s.Computed || s.BDF != want[i] || s.Mismatch() != "" {
			t.Errorf("VF %d: %+v (mismatch %q), want computed %s", i, s, s.Mismatch(), want[i])
		}
		spilled = spilled || s.BDF.Bus != pf.BDF.Bus
	}
	if !spilled {
		t.Errorf("offset 0xf0 stride 2 should carry VFs onto the next bus: %v", slots)
	}

	// A virtfn link that points elsewhere is a broken host: say so.
	link := filepath.Join(tr.Root, pf.Path, "virtfn3")
	os.Remove(link)
	if err := os.Symlink("../"+want[4].String(), link); err != nil {
		t.Fatal(err)
	}
	h, err = pcibind.New(tr.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	slots, _ = h.VFSlots(pf.BDF)
	if m := slots[3].Mismatch(); !strings.Contains(m, "virtfn3 -> "+want[4].String()) || !strings.Contains(m, want[3].String()) {
		t.Errorf("tampered virtfn3: mismatch %q", m)
	}
	if _, err := h.VFSlots(want[0]); !errors.Is(err, pcibind.ErrNotPF) {
		t.Errorf("VFSlots of a VF: %v, want ErrNotPF", err)
	}
}

// The kernel's rules: a non-zero count changes only through 0; the same
// count writes nothing; too many is refused before any write.
func TestSetNumVFsThroughZero(t *testing.T) {
	f := newBfix(t)
	pf := f.pf(t).BDF
	ch, err := f.s.SetNumVFs(pf, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.ThroughZero || ch.From != 4 || ch.To != 2 || len(ch.VFs) != 2 {
		t.Errorf("4 -> 2: %+v", ch)
	}
	if got := strings.Join(f.numvfsWrites(), ","); got != "0,2" {
		t.Errorf("writes %s, want 0,2", got)
	}
	st, err := f.s.SRIOVState(pf)
	if err != nil || st.NumVFs != 2 || len(st.VFs) != 2 {
		t.Errorf("state after 4 -> 2: %+v %v", st, err)
	}
	if _, err := f.s.SetNumVFs(pf, 2, 0); err != nil || len(f.numvfsWrites()) != 2 {
		t.Errorf("2 -> 2 wrote %v (%v), want nothing", f.numvfsWrites(), err)
	}
	if _, err := f.s.SetNumVFs(pf, 9, 0); !errors.Is(err, pcibind.ErrVFCount) || len(f.numvfsWrites()) != 2 {
		t.Errorf("9 of 8: %v, writes %v", err, f.numvfsWrites())
	}
	if _, err := f.s.SetNumVFs(pf, 0, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.s.SRIOVState(pf); st.NumVFs != 0 || len(st.VFs) != 0 {
		t.Errorf("after 0: %+v", st)
	}
	if _, err := f.s.SRIOVState(f.dev(t, "e1000e")); !errors.Is(err, pcibind.ErrNotPF) {
		t.Errorf("SRIOVState of a NIC: %v, want ErrNotPF", err)
	}
}

// A refused write of the new count after 0 puts the old count back: the
// PF is not left without its VFs.
func TestSetNumVFsRefusedWriteRestores(t *testing.T) {
	f := newBfix(t)
	pf := f.pf(t).BDF
	before, _ := f.s.SRIOVState(pf)
	f.k.FailNth(len(f.k.Writes)+1, pcitest.Fault{Err: syscall.ENOMEM})
	_, err := f.s.SetNumVFs(pf, 6, 0)
	if !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("SetNumVFs with a refused write: %v", err)
	}
	if got := strings.Join(f.numvfsWrites(), ","); got != "0,6,4" {
		t.Errorf("writes %s, want 0,6,4 (through 0, refused, back to 4)", got)
	}
	after, _ := f.s.SRIOVState(pf)
	if after.NumVFs != 4 || strings.Join(bdfs(after.VFs), " ") != strings.Join(bdfs(before.VFs), " ") {
		t.Errorf("after the refusal: %+v, want the 4 VFs back", after)
	}
	// The PF's driver gone: the kernel says ENOENT, and it is reported.
	if err := f.k.WriteAttr(filepath.Join(f.tree.Root, "bus/pci/drivers/igb/unbind"), pf.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SetNumVFs(pf, 0, 0); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("numvfs on a PF without driver: %v, want ENOENT", err)
	}
}

func bdfs(bs []xl.PciBdf) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return out
}

func TestIdentity(t *testing.T) {
	f := newBfix(t)
	pf := f.pf(t)
	st, _ := f.s.SRIOVState(pf.BDF)
	id, err := f.s.Identity(st.VFs[2])
	if err != nil {
		t.Fatal(err)
	}
	if id.PF == nil || *id.PF != pf.BDF || id.VFIndex != 2 || id.ID() != "8086:1520" || id.PFVendor != 0x8086 || id.PFDevice != 0x1521 {
		t.Errorf("VF 2 identity %+v (%s)", id, id)
	}
	if at, err := f.s.VFAt(*id.PF, id.VFIndex); err != nil || at != st.VFs[2] {
		t.Errorf("VFAt(%s, 2) = %s %v", id.PF, at, err)
	}
	if _, err := f.s.VFAt(pf.BDF, 4); err == nil {
		t.Error("VFAt beyond the enabled VFs succeeded")
	}
	id, err = f.s.Identity(f.dev(t, "e1000e"))
	if err != nil || id.PF != nil || id.ID() != "8086:10d3" || id.VFIndex != -1 {
		t.Errorf("NIC identity %+v %v", id, err)
	}
	if _, err := f.s.Identity(xl.PciBdf{Bus: 0x77}); !errors.Is(err, pcibind.ErrDeviceGone) {
		t.Errorf("identity of a missing device: %v", err)
	}
}

// With sriov_drivers_autoprobe=0 new VFs get no driver, and pciback's
// bind (libxl's way: new_slot, bind) fails with ENODEV; ProbeOverride
// sets driver_override so the same bind works, and DropProbeOverride
// puts the VF back as it was once pciback lets go.
func TestProbeOverrideAutoprobeOff(t *testing.T) {
	f := newBfix(t)
	pf := f.pf(t).BDF
	if _, err := f.s.SetNumVFs(pf, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetAutoprobe(pf, false); err != nil {
		t.Fatal(err)
	}
	ch, err := f.s.SetNumVFs(pf, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	vf := ch.VFs[0]
	if d := f.k.Driver(vf); d != "" {
		t.Fatalf("autoprobe=0: new VF bound to %q", d)
	}
	// libxl's sequence fails as on the testbed.
	root := f.tree.Root
	if err := f.k.WriteAttr(filepath.Join(root, "bus/pci/drivers/pciback/new_slot"), vf.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.k.WriteAttr(filepath.Join(root, "bus/pci/drivers/pciback/bind"), vf.String()); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("pciback bind of an autoprobe=0 VF: %v, want ENODEV", err)
	}
	changed, undo, err := f.s.ProbeOverride(vf, pcibind.DriverPciback)
	if err != nil || !changed || f.k.Override(vf) != pcibind.DriverPciback {
		t.Fatalf("ProbeOverride: %v %v, override %q", changed, err, f.k.Override(vf))
	}
	if err := f.k.WriteAttr(filepath.Join(root, "bus/pci/drivers/pciback/bind"), vf.String()); err != nil || f.k.Driver(vf) != pcibind.DriverPciback {
		t.Fatalf("pciback bind after the override: %v, driver %q", err, f.k.Driver(vf))
	}
	// While bound, the override stays; once unbound it goes.
	if err := f.s.DropProbeOverride(vf, pcibind.DriverPciback); err != nil || f.k.Override(vf) != pcibind.DriverPciback {
		t.Errorf("DropProbeOverride while bound: %v, override %q", err, f.k.Override(vf))
	}
	if err := f.k.WriteAttr(filepath.Join(root, "bus/pci/drivers/pciback/unbind"), vf.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DropProbeOverride(vf, pcibind.DriverPciback); err != nil || f.k.Override(vf) != "" {
		t.Errorf("DropProbeOverride: %v, override %q", err, f.k.Override(vf))
	}
	if err := undo(); err != nil {
		t.Errorf("undo with the override already gone: %v", err)
	}
	// Autoprobe on, or not a VF: nothing to do.
	nic := f.dev(t, "e1000e")
	if changed, _, err := f.s.ProbeOverride(nic, pcibind.DriverPciback); changed || err != nil {
		t.Errorf("ProbeOverride of a NIC: %v %v", changed, err)
	}
	if err := f.s.SetAutoprobe(pf, true); err != nil {
		t.Fatal(err)
	}
	if changed, _, err := f.s.ProbeOverride(ch.VFs[1], pcibind.DriverPciback); changed || err != nil {
		t.Errorf("ProbeOverride with autoprobe on: %v %v", changed, err)
	}
}
