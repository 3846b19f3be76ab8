package hotplug

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// sriovWorld is a host with an SR-IOV NIC (igb, 8 VFs, none enabled) and
// a free NIC, on the simulated kernel, with libxl modelled on top of it.
type sriovWorld struct {
	k    *pcitest.Kernel
	sys  *pcibind.Sysfs
	ts   *libxlOnKernel
	svc  *Service
	pf   xl.PciBdf
	nic  xl.PciBdf
	root string
}

func newSRIOVWorld(t *testing.T) *sriovWorld {
	t.Helper()
	pfNode := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, MSIX: 16, Vendor: 0x8086, Device: 0x1521,
		TotalVFs: 8, VFDevice: 0x1520, Driver: "igb", VFDriver: "igbvf"}
	nic := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, MSI: true, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e"}
	tree, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Topology{Drivers: []string{"pciback", "pci-stub", "igbvf"},
		Root: []*pcitest.Node{{Kind: pcitest.HostBridgeNode}, {Kind: pcitest.RootPort, Children: []*pcitest.Node{pfNode}}, nic}})
	if err != nil {
		t.Fatal(err)
	}
	proc := t.TempDir()
	for name, body := range map[string]string{"mounts": "", "swaps": "Filename\n", "net/route": "Iface\n", "net/ipv6_route": ""} {
		os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755)
		os.WriteFile(filepath.Join(proc, name), []byte(body), 0o644)
	}
	w := &sriovWorld{k: pcitest.NewKernel(t, tree.Root), root: tree.Root}
	w.k.Native("igbvf", 0x8086, 0x1520)
	w.sys = pcibind.New(tree.Root, pcibind.WithWriter(w.k), pcibind.WithProcRoot(proc), pcibind.WithStateDir(t.TempDir()))
	for _, f := range tree.Funcs {
		switch f.Node {
		case pfNode:
			w.pf = f.BDF
		case nic:
			w.nic = f.BDF
		}
	}
	w.ts = &libxlOnKernel{fakeToolstack: newFake(), w: w, orig: map[xl.PciBdf]string{}}
	w.svc = &Service{ts: w.ts, sysfs: w.sys, slots: DefaultSlots}
	w.rescan(t)
	return w
}

func (w *sriovWorld) rescan(t *testing.T) *pcibind.Host {
	t.Helper()
	h, err := w.sys.Scan()
	if err != nil {
		t.Fatal(err)
	}
	w.svc.host = h
	return h
}

func (w *sriovWorld) write(attr, v string) error {
	return w.k.WriteAttr(filepath.Join(w.root, attr), v)
}

// libxlOnKernel is the fake toolstack whose assignable add and remove do
// what libxl 4.17 does in sysfs (unbind, new_slot, bind pciback; remove:
// unbind, remove_slot, rebind the recorded driver), so the simulated
// kernel's rules apply to them.
type libxlOnKernel struct {
	*fakeToolstack
	w    *sriovWorld
	orig map[xl.PciBdf]string // xenstore's driver_path
}

func (l *libxlOnKernel) PciAssignableAdd(dev xl.DevicePci, rebind bool) error {
	b := dev.PciBdf
	cur := l.w.k.Driver(b)
	if cur != pcibind.DriverPciback {
		if cur != "" {
			if err := l.w.write("bus/pci/drivers/"+cur+"/unbind", b.String()); err != nil {
				return err
			}
			l.orig[b] = cur
		}
		if err := l.w.write("bus/pci/drivers/pciback/new_slot", b.String()); err != nil {
			return err
		}
		if err := l.w.write("bus/pci/drivers/pciback/bind", b.String()); err != nil {
			return errors.Join(errors.New("Couldn't bind device to pciback!"), err)
		}
	}
	return l.fakeToolstack.PciAssignableAdd(dev, rebind)
}

func (l *libxlOnKernel) PciAssignableRemove(dev xl.DevicePci, rebind bool) error {
	b := dev.PciBdf
	if l.w.k.Driver(b) == pcibind.DriverPciback {
		if err := l.w.write("bus/pci/drivers/pciback/unbind", b.String()); err != nil {
			return err
		}
	}
	_ = l.w.write("bus/pci/drivers/pciback/remove_slot", b.String())
	if drv := l.orig[b]; rebind && drv != "" {
		if err := l.w.write("bus/pci/drivers/"+drv+"/bind", b.String()); err != nil {
			return err
		}
	}
	delete(l.orig, b)
	return l.fakeToolstack.PciAssignableRemove(dev, rebind)
}

func numvfsWrites(k *pcitest.Kernel) []string {
	var out []string
	for _, w := range k.Writes {
		if strings.HasSuffix(w.Attr, "/sriov_numvfs") {
			out = append(out, w.Value)
		}
	}
	return out
}

// enable --assignable: the VFs appear, no dom0 VF driver touches them
// (autoprobe 0), and libxl's own bind works thanks to driver_override.
// Then list shows owners, a VF in a guest blocks disable (naming the
// guest), and after detach disable releases the assignable VFs first.
func TestSRIOVEnableAssignableListAndDisable(t *testing.T) {
	w := newSRIOVWorld(t)
	res, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2, Assignable: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Change.VFs) != 2 || len(res.Hidden) != 2 || !res.AutoprobeOff {
		t.Fatalf("enable: %+v", res)
	}
	vf0, vf1 := res.Change.VFs[0], res.Change.VFs[1]
	for _, vf := range res.Change.VFs {
		if d := w.k.Driver(vf); d != pcibind.DriverPciback {
			t.Errorf("%s on %q, want pciback", vf, d)
		}
	}
	if len(w.ts.pciback) != 2 {
		t.Errorf("libxl's assignable list: %v", w.ts.pciback)
	}
	// Guest web01 takes VF 0.
	w.ts.addDomain(5, "web01", xl.DomainTypeHVM)
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = vf0, 1
	w.ts.domains[5].devs = append(w.ts.domains[5].devs, d)
	w.ts.xsDomid[vf0] = 5

	pfs, err := w.svc.SRIOVList()
	if err != nil {
		t.Fatal(err)
	}
	if len(pfs) != 1 || pfs[0].PF != w.pf || pfs[0].TotalVFs != 8 || pfs[0].NumVFs != 2 || pfs[0].Autoprobe || len(pfs[0].VFs) != 2 {
		t.Fatalf("list: %+v", pfs)
	}
	v0, v1 := pfs[0].VFs[0], pfs[0].VFs[1]
	if v0.BDF != vf0 || v0.Owner != "domain" || v0.Domain != "web01" || v0.Domid != 5 || !v0.MSIX {
		t.Errorf("VF 0: %+v", v0)
	}
	if v1.BDF != vf1 || v1.Owner != "assignable" || v1.Driver != pcibind.DriverPciback || v1.Problem != "" {
		t.Errorf("VF 1: %+v", v1)
	}

	before := len(w.k.Writes)
	_, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 0})
	mustFail(t, err, ErrVFsAssigned, vf0.String(), "web01", "pci-detach")
	_, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 4})
	mustFail(t, err, ErrVFsAssigned, "from 2 to 4", "web01")
	if len(w.k.Writes) != before {
		t.Errorf("a refused change wrote %v", w.k.Writes[before:])
	}
	// The same count is no change: allowed.
	if _, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2}); err != nil {
		t.Errorf("same count with a VF in a guest: %v", err)
	}

	w.ts.domains[5].devs = nil // detached
	delete(w.ts.xsDomid, vf0)
	w.rescan(t)
	res, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Released) != 2 || len(w.ts.pciback) != 0 {
		t.Errorf("disable released %v, libxl still lists %v", res.Released, w.ts.pciback)
	}
	if st, _ := w.sys.SRIOVState(w.pf); st.NumVFs != 0 || strings.Join(numvfsWrites(w.k), ",") != "2,0" {
		t.Errorf("after disable: %+v, numvfs writes %v", st, numvfsWrites(w.k))
	}
}

// Changing a non-zero count goes through 0; a refused write leaves the
// old count; a hidden PF cannot make VFs.
func TestSRIOVChangeThroughZeroAndRefusals(t *testing.T) {
	w := newSRIOVWorld(t)
	if _, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 3}); err != nil {
		t.Fatal(err)
	}
	w.rescan(t)
	// autoprobe on: igbvf took the VFs.
	st, _ := w.sys.SRIOVState(w.pf)
	if d := w.k.Driver(st.VFs[0]); d != "igbvf" {
		t.Errorf("autoprobe 1: VF on %q, want igbvf", d)
	}
	res, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 5})
	if err != nil || !res.Change.ThroughZero {
		t.Fatalf("3 -> 5: %+v %v", res, err)
	}
	w.rescan(t)
	w.k.FailNth(len(w.k.Writes)+1, pcitest.Fault{Err: syscall.ENOSPC})
	_, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 7})
	mustFail(t, err, syscall.ENOSPC, "set 7 VFs")
	if st, _ := w.sys.SRIOVState(w.pf); st.NumVFs != 5 {
		t.Errorf("after a refused write: %d VFs, want the 5 back", st.NumVFs)
	}
	_, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 9})
	mustFail(t, err, pcibind.ErrVFCount, "8 VFs at most")
	if _, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 0}); err != nil {
		t.Fatal(err)
	}
	if err := w.write("bus/pci/drivers/igb/unbind", w.pf.String()); err != nil {
		t.Fatal(err)
	}
	w.rescan(t)
	_, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2})
	mustFail(t, err, ErrPFHidden, "has no driver")
}

// A PF with VFs enabled is neither hidden (without --force) nor passed
// through.
func TestSRIOVPFWithVFsRefused(t *testing.T) {
	w := newSRIOVWorld(t)
	if _, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 1}); err != nil {
		t.Fatal(err)
	}
	host := w.rescan(t)
	_, err := w.svc.AssignableAdd(AssignableRequest{Device: w.pf})
	mustFail(t, err, ErrNeedsForce, "SR-IOV PF with 1 VFs enabled")
	_, err = SRIOVCheck(host)(Domain{Name: "web01"}, xl.DevicePci{PciBdf: w.pf})
	mustFail(t, err, ErrPFHasVFs, "sriov disable "+w.pf.String())
	if _, err := SRIOVCheck(host)(Domain{}, xl.DevicePci{PciBdf: w.nic}); err != nil {
		t.Errorf("a NIC: %v", err)
	}
}

// VFs made by hand with sriov_drivers_autoprobe=0 (no driver): libxl's
// bind alone fails with ENODEV; pci-assignable-add sets driver_override
// first, libxl's bind then works and quarantines, and
// pci-assignable-remove leaves the VF exactly as before (no driver, no
// override). Through sysfs with pci-stub the same.
func TestAssignableAddAutoprobeOffVF(t *testing.T) {
	w := newSRIOVWorld(t)
	if err := w.write("bus/pci/devices/"+w.pf.String()+"/sriov_drivers_autoprobe", "0"); err != nil {
		t.Fatal(err)
	}
	if err := w.write("bus/pci/devices/"+w.pf.String()+"/sriov_numvfs", "2"); err != nil {
		t.Fatal(err)
	}
	w.rescan(t)
	st, _ := w.sys.SRIOVState(w.pf)
	vf, vf2 := st.VFs[0], st.VFs[1]
	// What libxl alone gets (the testbed's "no such device").
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = vf, 1
	if err := w.ts.PciAssignableAdd(d, true); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("libxl alone: %v, want ENODEV", err)
	}
	_ = w.write("bus/pci/drivers/pciback/remove_slot", vf.String())

	res, err := w.svc.AssignableAdd(AssignableRequest{Device: vf})
	if err != nil || len(res.Hidden) != 1 {
		t.Fatalf("assignable-add: %+v %v", res, err)
	}
	if w.k.Driver(vf) != pcibind.DriverPciback || w.k.Override(vf) != pcibind.DriverPciback || w.ts.pciback[vf] != "" {
		t.Errorf("after add: driver %q override %q libxl %v", w.k.Driver(vf), w.k.Override(vf), w.ts.pciback)
	}
	if _, recorded := w.ts.orig[vf]; recorded {
		t.Errorf("libxl recorded an original driver for a driverless VF: %v", w.ts.orig)
	}
	if _, err := w.svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: true}); err != nil {
		t.Fatal(err)
	}
	if w.k.Driver(vf) != "" || w.k.Override(vf) != "" {
		t.Errorf("after remove: driver %q override %q, want none and none", w.k.Driver(vf), w.k.Override(vf))
	}

	// pci-stub through sysfs, and a failed libxl add undoes the override.
	if _, err := w.svc.AssignableAdd(AssignableRequest{Device: vf2, Driver: pcibind.DriverPciStub}); err != nil || w.k.Driver(vf2) != pcibind.DriverPciStub {
		t.Fatalf("pci-stub: %v, driver %q", err, w.k.Driver(vf2))
	}
	w.ts.fail["assignable-add "+vf.String()] = errors.New("failed to quarantine")
	_, err = w.svc.AssignableAdd(AssignableRequest{Device: vf})
	mustFail(t, err, nil, "quarantine")
	if w.k.Override(vf) != "" {
		t.Errorf("failed add left override %q", w.k.Override(vf))
	}
}

// A failure while hiding the VFs undoes the whole enable: the first VF is
// given back, the VFs go, autoprobe is as it was.
func TestSRIOVEnableAssignableFailureUndoes(t *testing.T) {
	w := newSRIOVWorld(t)
	vf1 := xl.PciBdf{Bus: w.pf.Bus, Dev: 0x10, Func: 1}
	w.ts.fail["assignable-add "+vf1.String()] = errors.New("failed to quarantine")
	_, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2, Assignable: true})
	mustFail(t, err, nil, "quarantine")
	st, _ := w.sys.SRIOVState(w.pf)
	// (pciback's slots keep the failed VF's entry: libxl's half-done add
	// leaves it, as libxl 4.17 does.)
	if st.NumVFs != 0 || !st.Autoprobe || len(w.ts.pciback) != 0 {
		t.Errorf("after the failed enable: %+v, libxl %v; want as before", st, w.ts.pciback)
	}
}

// On Xen 4.17 and 4.18 a removed VF leaves its MSI-X table record in a
// guest that held it (docs/xen-417-msix-vf-use-after-free.md): a change
// that removes VFs says to restart such guests; one that adds VFs, or a
// fixed Xen, says nothing of it.
func TestSRIOVRemovalWarnsOfXensStaleMSIXRecord(t *testing.T) {
	for _, c := range []struct {
		xen   [2]int
		warns bool
	}{{[2]int{4, 17}, true}, {[2]int{4, 18}, true}, {[2]int{4, 20}, false}, {[2]int{0, 0}, false}} {
		w := newSRIOVWorld(t)
		w.ts.xen = c.xen
		res, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2, Assignable: true})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(res.Warnings, "\n"), "MSI-X table") {
			t.Errorf("Xen %v: enabling VFs warned %q", c.xen, res.Warnings)
		}
		w.rescan(t)
		res, err = w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 0})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(res.Warnings, "\n")
		want := fmt.Sprintf("Xen 4.%d keeps an HVM guest's record of a detached device's MSI-X table", c.xen[1])
		if strings.Contains(got, want) != c.warns || (c.warns && !strings.Contains(got, "restart every HVM guest that held one of the removed VFs")) {
			t.Errorf("Xen %v: disable warned %q; want the stale-record warning: %v", c.xen, got, c.warns)
		}
	}
}
