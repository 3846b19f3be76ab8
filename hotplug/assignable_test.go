package hotplug

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// bindWorld is a host whose writes go to the simulated kernel: a
// PCIe-to-PCI bridge with two conventional e1000 NICs (a group), a PCIe
// NIC dom0 routes through (eth0), and a free PCIe NIC.
type bindWorld struct {
	k      *pcitest.Kernel
	sys    *pcibind.Sysfs
	host   *pcibind.Host
	svc    *Service
	old1   xl.PciBdf
	old2   xl.PciBdf
	bridge xl.PciBdf
	eth0   xl.PciBdf
	free   xl.PciBdf
}

func newBindWorld(t *testing.T) *bindWorld {
	t.Helper()
	o1 := &pcitest.Node{Kind: pcitest.PCIDevice, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"}
	o2 := &pcitest.Node{Kind: pcitest.PCIDevice, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"}
	br := &pcitest.Node{Kind: pcitest.PCIeToPCI, Children: []*pcitest.Node{o1, o2}}
	nic := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e", NetDev: "eth0"}
	free := &pcitest.Node{Kind: pcitest.Endpoint, FLR: true, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e"}
	tree, err := pcitest.Generate(t.TempDir(), pcitest.Topology{Drivers: []string{"pciback", "pci-stub", "e1000", "e1000e"},
		Root: []*pcitest.Node{{Kind: pcitest.HostBridgeNode}, {Kind: pcitest.RootPort, Children: []*pcitest.Node{br}}, nic, free}})
	if err != nil {
		t.Fatal(err)
	}
	proc := t.TempDir()
	for name, body := range map[string]string{
		"mounts":         "proc /proc proc rw 0 0\n",
		"swaps":          "Filename\tType\tSize\tUsed\tPriority\n",
		"net/route":      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
		"net/ipv6_route": "",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755)
		os.WriteFile(filepath.Join(proc, name), []byte(body), 0o644)
	}
	w := &bindWorld{k: pcitest.NewKernel(t, tree.Root)}
	w.sys = pcibind.New(tree.Root, pcibind.WithWriter(w.k), pcibind.WithProcRoot(proc), pcibind.WithStateDir(t.TempDir()))
	w.host, err = w.sys.Scan()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tree.Funcs {
		switch f.Node {
		case o1:
			w.old1 = f.BDF
		case o2:
			w.old2 = f.BDF
		case br:
			w.bridge = f.BDF
		case nic:
			w.eth0 = f.BDF
		case free:
			w.free = f.BDF
		}
	}
	w.svc = &Service{host: w.host, sysfs: w.sys, slots: DefaultSlots}
	return w
}

func TestAssignableAddGroupWithPciStubAndGiveBack(t *testing.T) {
	w := newBindWorld(t)
	res, err := w.svc.AssignableAdd(AssignableRequest{Device: w.old1, Driver: pcibind.DriverPciStub, Group: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hidden) != 2 || res.Hidden[0].From != "e1000" {
		t.Fatalf("hidden %+v", res.Hidden)
	}
	for _, b := range []xl.PciBdf{w.old1, w.old2} {
		if d := w.k.Driver(b); d != "pci-stub" {
			t.Errorf("%s on %q; want pci-stub", b, d)
		}
		// By driver_override, as driverctl binds: the kernel has it.
		if o := w.k.Override(b); o != "pci-stub" {
			t.Errorf("%s driver_override %q; want pci-stub", b, o)
		}
	}
	if ids := w.k.DynIDs("pci-stub"); len(ids) != 0 {
		t.Errorf("pci-stub has dynamic IDs %v", ids)
	}
	for _, b := range []xl.PciBdf{w.old1, w.old2} {
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = b, 1
		res, err := w.svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: true})
		msg := res.Message
		if err != nil || !strings.Contains(msg, "back on e1000") {
			t.Errorf("give back %s: %q, %v", b, msg, err)
		}
		if drv := w.k.Driver(b); drv != "e1000" || w.k.Override(b) != "" {
			t.Errorf("%s on %q after give back, driver_override %q; want e1000, none", b, drv, w.k.Override(b))
		}
	}
}

func TestAssignableAddGroupFaultLosesNothing(t *testing.T) {
	w := newBindWorld(t)
	// The second device's bind to pciback fails, after the first worked:
	// the first must be given back.
	w.svc.sysfs = pcibind.New(w.sys.Root(), pcibind.WithWriter(faultAfterFirst{w}), pcibind.WithProcRoot(w.sys.ProcRoot()),
		pcibind.WithStateDir(w.sys.StateDir()))
	_, err := w.svc.AssignableAdd(AssignableRequest{Device: w.old1, Driver: pcibind.DriverPciback, Group: true})
	if err == nil {
		t.Fatal("succeeded despite the injected fault")
	}
	for _, b := range []xl.PciBdf{w.old1, w.old2} {
		if d := w.k.Driver(b); d != "e1000" {
			t.Errorf("%s left on %q after a failed group hide; want e1000 (nothing lost)", b, d)
		}
	}
}

// faultAfterFirst is the simulated kernel, arming a pciback bind fault
// when the second device's hide begins (its new_slot).
type faultAfterFirst struct{ w *bindWorld }

func (f faultAfterFirst) WriteAttr(p, v string) error {
	if strings.HasSuffix(p, "/pciback/new_slot") && v == f.w.old2.String() {
		f.w.k.Fail("pciback", "bind", pcitest.Fault{Err: errors.New("injected")})
	}
	return f.w.k.WriteAttr(p, v)
}

func TestAssignableAddRefusesWhatDom0NeedsAndWarnsOnSplitGroup(t *testing.T) {
	w := newBindWorld(t)
	_, err := w.svc.AssignableAdd(AssignableRequest{Device: w.eth0})
	mustFail(t, err, ErrNeedsForce, w.eth0.String(), "eth0", "--force")
	_, err = w.svc.AssignableAdd(AssignableRequest{Device: w.bridge})
	mustFail(t, err, ErrNeedsForce, "bridge")
	if d := w.k.Driver(w.eth0); d != "e1000e" {
		t.Errorf("refusal changed the NIC's driver to %q", d)
	}
	res, err := w.svc.AssignableAdd(AssignableRequest{Device: w.old1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], w.old2.String()+" (e1000)") || !strings.Contains(res.Warnings[0], "--group") {
		t.Errorf("warnings %q", res.Warnings)
	}
	res, err = w.svc.AssignableAdd(AssignableRequest{Device: w.eth0, Force: true, Driver: pcibind.DriverPciStub})
	if err != nil || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "--force") {
		t.Errorf("--force: %v %q", err, res.Warnings)
	}
}

func TestAssignableAddThroughLibxlRollsBack(t *testing.T) {
	w := newBindWorld(t)
	ts := newFake()
	w.svc.ts = ts
	ts.fail["assignable-add "+w.old2.String()] = errors.New("libxl: failed to quarantine")
	_, err := w.svc.AssignableAdd(AssignableRequest{Device: w.old1, Group: true})
	mustFail(t, err, nil, "quarantine")
	if len(ts.pciback) != 0 {
		t.Errorf("left assignable after rollback: %v (calls %v)", ts.pciback, ts.calls)
	}
	delete(ts.fail, "assignable-add "+w.old2.String())
	res, err := w.svc.AssignableAdd(AssignableRequest{Device: w.old1, Group: true, Name: "nic"})
	if err != nil || len(res.Hidden) != 2 || len(ts.pciback) != 2 {
		t.Errorf("%v %+v %v", err, res, ts.pciback)
	}
}

func TestAssignableAddRefusesADeviceAGuestHolds(t *testing.T) {
	w := newBindWorld(t)
	ts := newFake()
	w.svc.ts = ts
	ts.addDomain(4, "web01", xl.DomainTypeHVM)
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = w.free, 1
	ts.place(4, d)
	// libxl gives a domain only devices on pciback: dom0 sees it there.
	if err := w.sys.Hide(w.free, pcibind.DriverPciback, pcibind.MethodSlot); err != nil {
		t.Fatal(err)
	}
	host, err := w.sys.Read(w.free)
	if err != nil {
		t.Fatal(err)
	}
	w.svc.host = host
	_, err = w.svc.AssignableAdd(AssignableRequest{Device: w.free})
	mustFail(t, err, ErrAssignedElsewhere, w.free.String(), "domain 4 (web01)", "xlpt pci-detach 4")
	for _, c := range ts.calls {
		if strings.HasPrefix(c, "assignable-add") {
			t.Errorf("libxl was called: %v", ts.calls)
		}
	}
}

// TestReadinessVerdictMatchesRefusal holds `check` and pci-assignable-add
// to one rule: on every device of the host, the verdict is "refused"
// exactly when hiding it without --force is refused.
func TestReadinessVerdictMatchesRefusal(t *testing.T) {
	w := newBindWorld(t)
	uses, useErr := w.sys.InUse()
	refused := 0
	for _, d := range w.host.Devices {
		r := JudgeReadiness(ReadinessInput{Device: d, Host: w.host, Uses: uses, UseErr: useErr})
		_, err := w.svc.AssignableAdd(AssignableRequest{Device: d.BDF, Driver: pcibind.DriverPciStub})
		if got := errors.Is(err, ErrNeedsForce); got != (r.Verdict == VerdictRefused) {
			t.Errorf("%s: verdict %q, assignable-add error %v", d.BDF, r, err)
		}
		if r.Verdict == VerdictRefused {
			refused++
			if !strings.HasPrefix(r.String(), "refused: ") || !strings.Contains(err.Error(), r.Refusals[0]) {
				t.Errorf("%s: verdict %q and refusal %v give different reasons", d.BDF, r, err)
			}
		} else if err == nil {
			if err := w.sys.GiveBack(d.BDF); err != nil {
				t.Fatalf("give back %s: %v", d.BDF, err)
			}
		}
	}
	// The host bridge, the PCIe-to-PCI bridge, the root port and eth0.
	if refused < 4 {
		t.Errorf("%d devices refused, want at least the bridges and eth0", refused)
	}
}

// pci-assignable-remove NAME: the name is looked up in libxl's assignable
// list; an unknown one is refused and nothing is released (libxl 4.17
// would release 0000:00:00.0).
func TestAssignableRemoveByName(t *testing.T) {
	w := newBindWorld(t)
	f := newFake()
	f.pciback[w.free] = "nic1"
	f.pciback[xl.PciBdf{}] = ""                                    // what a zero BDF would hit
	f.quarantined[w.free], f.quarantined[xl.PciBdf{}] = true, true // as libxl's assignable add leaves them
	w.svc.ts = f
	named := func(n string) xl.DevicePci {
		d := xl.NewDevicePci()
		d.Name = n
		return d
	}
	if _, err := w.svc.AssignableRemove(ReleaseRequest{Device: named("nope"), Rebind: false}); !errors.Is(err, ErrNotAssignable) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown name: %v", err)
	}
	if _, on := f.pciback[xl.PciBdf{}]; !on || len(f.pciback) != 2 {
		t.Errorf("an unknown name released something: %v", f.pciback)
	}
	res, err := w.svc.AssignableRemove(ReleaseRequest{Device: named("nic1"), Rebind: false})
	msg := res.Message
	if err != nil || !strings.Contains(msg, w.free.String()) {
		t.Errorf("nic1: %q, %v", msg, err)
	}
	if _, on := f.pciback[w.free]; on || len(f.pciback) != 1 {
		t.Errorf("nic1 (%s) not released alone: %v", w.free, f.pciback)
	}
	w.svc.ts = nil
	if _, err := w.svc.AssignableRemove(ReleaseRequest{Device: named("nic1"), Rebind: false}); err == nil || !strings.Contains(err.Error(), "give the BDF") {
		t.Errorf("by name without libxl: %v", err)
	}
}

// pci-assignable-remove [-r] of a device a guest holds is refused before
// libxl (which would only say "failed to de-quarantine"), naming the guest
// and the detach to run first.
func TestAssignableRemoveRefusesADeviceAGuestHolds(t *testing.T) {
	w := newBindWorld(t)
	ts := newFake()
	w.svc.ts = ts
	ts.addDomain(4, "web01", xl.DomainTypeHVM)
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask, d.Vdevfn = w.free, 1, xl.Vdevfn(6, 0)
	// On pciback in the kernel, as libxl leaves it, and in web01.
	for _, wr := range [][2]string{{"pciback/new_slot", w.free.String()}, {"e1000e/unbind", w.free.String()}, {"pciback/bind", w.free.String()}} {
		if err := w.k.WriteAttr(filepath.Join(w.sys.Root(), "bus/pci/drivers", wr[0]), wr[1]); err != nil {
			t.Fatal(err)
		}
	}
	host, err := w.sys.Scan()
	if err != nil {
		t.Fatal(err)
	}
	w.svc.host = host
	ts.pciback[w.free], ts.quarantined[w.free] = "", true
	ts.place(4, d)
	for _, rebind := range []bool{true, false} {
		_, err := w.svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: rebind})
		mustFail(t, err, ErrAssignedElsewhere, w.free.String(), "domain 4 (web01)", "xlpt pci-detach 4 "+w.free.String())
	}
	for _, c := range ts.calls {
		if strings.HasPrefix(c, "assignable-remove") {
			t.Errorf("libxl was called: %v", ts.calls)
		}
	}
}

// A device whose device node a dom0 process holds open is not hidden
// without --force, and the process is named.
func TestAssignableAddRefusesADeviceWithOpenNodes(t *testing.T) {
	w := newBindWorld(t)
	dev := filepath.Join(w.sys.Root(), "bus/pci/devices", w.free.String(), "tty/ttyS9")
	os.MkdirAll(dev, 0o755)
	os.WriteFile(dev+"/uevent", []byte("MAJOR=4\nMINOR=73\nDEVNAME=ttyS9\n"), 0o644)
	fd := filepath.Join(w.sys.ProcRoot(), "4242", "fd")
	os.MkdirAll(fd, 0o755)
	os.WriteFile(filepath.Join(w.sys.ProcRoot(), "4242", "comm"), []byte("getty\n"), 0o644)
	if err := os.Symlink("/dev/ttyS9", filepath.Join(fd, "0")); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.AssignableAdd(AssignableRequest{Device: w.free, Driver: pcibind.DriverPciStub})
	mustFail(t, err, ErrNeedsForce, w.free.String(), "/dev/ttyS9 open by process 4242 (getty)", "--force")
	if d := w.k.Driver(w.free); d != "e1000e" {
		t.Errorf("refusal changed the driver to %q", d)
	}
	if _, err := w.svc.AssignableAdd(AssignableRequest{Device: w.free, Driver: pcibind.DriverPciStub, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
}

// pci-assignable-remove of a device already back on its dom0 driver (an
// earlier run, or this run's recovery, gave it back) says so and
// succeeds; libxl refused it without changing anything.
func TestAssignableRemoveAlreadyGivenBack(t *testing.T) {
	w := newBindWorld(t)
	f := newFake()
	w.svc.ts = f
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = w.free, 1
	res, err := w.svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: true})
	msg := res.Message
	if err != nil || !strings.Contains(msg, w.free.String()+" is already on e1000e") {
		t.Errorf("already given back: %q, %v", msg, err)
	}
	if !strings.Contains(strings.Join(f.calls, ","), "assignable-remove "+w.free.String()) {
		t.Errorf("libxl was not asked: %v", f.calls)
	}
}
