package hotplug

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// The crash matrix of the host changes beyond attach and hide: sriov
// enable and disable (the whole sequence), --persist on
// pci-assignable-add and -remove, and restore. Each is killed after every
// one of its steps (xlpt's sysfs writes, libxl's steps in the fake, the
// journal's writes); recovery, or the command run again, must leave the
// host exactly as the command would have: these are finished forward.

func setVFs(n int, assignable, persist bool) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		_, err := svc.SetVFs(SRIOVRequest{PF: w.dev["pf"], NumVFs: n, Assignable: assignable, Persist: persist})
		return err
	}
}

func hidePersist(name, driver string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		_, err := svc.AssignableAdd(AssignableRequest{Device: w.dev[name], Name: name, Driver: driver, Persist: true})
		return err
	}
}

func giveBackPersist(name string) func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	return func(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = w.dev[name], 1
		_, err := svc.AssignableRemove(ReleaseRequest{Device: d, Rebind: true, Persist: true})
		return err
	}
}

func restore(w *crashWorld, svc *Service, sys *pcibind.Sysfs) error {
	res, err := svc.Restore(false)
	if err == nil && !res.OK() {
		err = fmt.Errorf("restore: %+v", res.Items)
	}
	return err
}

// vfsAre checks the PF's VFs: n of them, autoprobe as asked, each
// assignable (on pciback, in pciback's slots, quarantined, listed by
// libxl) or on its own driver.
func (w *crashWorld) vfsAre(n int, autoprobe, assignable bool) error {
	st, err := pcibind.New(w.root).SRIOVState(w.dev["pf"])
	if err != nil {
		return err
	}
	if st.NumVFs != n || len(st.VFs) != n || st.Autoprobe != autoprobe {
		return fmt.Errorf("PF: %d VFs (%d links), autoprobe %v; want %d, autoprobe %v", st.NumVFs, len(st.VFs), st.Autoprobe, n, autoprobe)
	}
	slots := strings.Join(w.k.Slots(), " ")
	for _, vf := range st.VFs {
		drv := w.k.Driver(vf)
		_, listed := w.ts.pciback[vf]
		switch {
		case assignable && (drv != "pciback" || !strings.Contains(slots, vf.String()) || !w.ts.quarantined[vf] || !listed):
			return fmt.Errorf("VF %s: driver %q, in slots %v, quarantined %v, listed %v; want assignable", vf, drv, strings.Contains(slots, vf.String()), w.ts.quarantined[vf], listed)
		case !assignable && (drv != "igbvf" || listed):
			return fmt.Errorf("VF %s: driver %q, listed %v; want igbvf", vf, drv, listed)
		}
	}
	// What libxl and Xen say of VFs that are gone: nothing.
	gone := func(b xl.PciBdf) bool { return b.Bus == w.dev["pf"].Bus && b != w.dev["pf"] && !contains(st.VFs, b) }
	list, _ := w.ts.PciAssignableList()
	for _, d := range list {
		if gone(d.PciBdf) {
			return fmt.Errorf("libxl lists %s as assignable, a VF that is gone", d.PciBdf)
		}
	}
	for b := range w.ts.quarantined {
		if gone(b) {
			return fmt.Errorf("Xen quarantines %s, a VF that is gone", b)
		}
	}
	return nil
}

// setupIs checks the host setup file: exactly these lines (in the file's
// canonical form, without the header).
func (w *crashWorld) setupIs(lines ...string) error {
	p, err := LoadPersist(w.conf)
	if err != nil {
		return err
	}
	var got []string
	for _, e := range p.sorted() {
		got = append(got, e.String())
	}
	if strings.Join(got, "\n") != strings.Join(lines, "\n") {
		return fmt.Errorf("host setup:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(lines, "\n"))
	}
	return nil
}

func (w *crashWorld) vfLine(i int, driver string) string {
	pf := w.dev["pf"]
	vf := xl.PciBdf{Domain: pf.Domain, Bus: pf.Bus, Dev: pf.Dev + 0x10, Func: uint8(i)}
	return fmt.Sprintf("assignable  %s  8086:1520 driver=%s vf=%s/%d", vf, driver, pf, i)
}

func (w *crashWorld) pfLine(n int, autoprobe int) string {
	return fmt.Sprintf("sriov       %s  8086:1521 vfs=%d autoprobe=%d", w.dev["pf"], n, autoprobe)
}

func both(errs ...error) error { return errors.Join(errs...) }

// noOverride takes driver_override away from a device, as a kernel
// before 3.16 has it.
func (w *crashWorld) noOverride(name string) {
	if err := os.Remove(filepath.Join(w.root, "bus/pci/devices", w.dev[name].String(), "driver_override")); err != nil {
		w.t.Fatal(err)
	}
}

// onPciStub checks a device hidden with pci-stub and recorded in the host
// setup: on pci-stub with the override given ("" on a kernel without
// driver_override, bound by new_id), xlpt's record naming its original
// driver and no dynamic ID, pci-stub keeping none.
func (w *crashWorld) onPciStub(name, override string) error {
	var err error
	b := w.dev[name]
	if d := w.k.Driver(b); d != pcibind.DriverPciStub {
		err = fmt.Errorf("%s on %q, want pci-stub", name, d)
	} else if o := w.k.Override(b); o != override {
		err = fmt.Errorf("%s driver_override %q, want %q", name, o, override)
	} else if rec, rerr := pcibind.New(w.root, pcibind.WithStateDir(w.state)).LoadRecord(b); rerr != nil || rec.Driver != "e1000e" || rec.AddedID != "" {
		err = fmt.Errorf("xlpt's record of the %s: %+v %v", name, rec, rerr)
	} else if ids := w.k.DynIDs(pcibind.DriverPciStub); len(ids) > 0 {
		err = fmt.Errorf("pci-stub keeps the dynamic IDs %v", ids)
	}
	return both(err, w.setupIs(fmt.Sprintf("assignable  %s  8086:10d3 driver=pci-stub name=%s original=e1000e", b, name)))
}

var setupCrashCases = []opCase{
	{name: "sriov enable --assignable --persist", op: setVFs(2, true, true), check: func(w *crashWorld) error {
		return both(w.vfsAre(2, false, true), w.setupIs(w.pfLine(2, 0), w.vfLine(0, "pciback"), w.vfLine(1, "pciback")))
	}},
	{name: "sriov enable through 0", setup: func(w *crashWorld) { w.do(setVFs(2, true, false)) }, op: setVFs(3, true, false),
		check: func(w *crashWorld) error { return w.vfsAre(3, false, true) }},
	{name: "sriov enable, dom0 drivers", op: setVFs(2, false, false),
		check: func(w *crashWorld) error { return w.vfsAre(2, true, false) }},
	{name: "sriov disable --persist", setup: func(w *crashWorld) { w.do(setVFs(2, true, true)) }, op: setVFs(0, false, true),
		check: func(w *crashWorld) error { return both(w.vfsAre(0, false, false), w.setupIs()) }},
	{name: "pci-assignable-add --persist", op: hidePersist("nic", pcibind.DriverPciback), check: func(w *crashWorld) error {
		st, err := w.stateOf(w.dev["nic"])
		if err == nil && st != inAssignable {
			err = fmt.Errorf("nic in %s", st)
		}
		return both(err, w.setupIs(fmt.Sprintf("assignable  %s  8086:10d3 driver=pciback name=nic original=e1000e", w.dev["nic"])))
	}},
	{name: "pci-assignable-add --driver pci-stub --persist", op: hidePersist("nic", pcibind.DriverPciStub), check: func(w *crashWorld) error {
		return w.onPciStub("nic", pcibind.DriverPciStub)
	}},
	// The same on a kernel without driver_override (before 3.16): pci-stub
	// through new_id, whose dynamic ID a hide that died leaves for the
	// next one to take out (pcibind's record names it: AddedID).
	{name: "pci-assignable-add --driver pci-stub --persist, no driver_override", setup: func(w *crashWorld) { w.noOverride("nic") },
		op: hidePersist("nic", pcibind.DriverPciStub), check: func(w *crashWorld) error { return w.onPciStub("nic", "") }},
	{name: "pci-assignable-remove -r --persist", setup: func(w *crashWorld) { w.do(hidePersist("nic", pcibind.DriverPciback)) },
		op: giveBackPersist("nic"), check: func(w *crashWorld) error {
			st, err := w.stateOf(w.dev["nic"])
			if err == nil && st != inDom0 {
				err = fmt.Errorf("nic in %s", st)
			}
			return both(err, w.setupIs())
		}},
	{name: "restore", setup: func(w *crashWorld) {
		mustWrite(w.t, filepath.Join(w.conf, PersistFileName), w.pfLine(2, 0)+"\n"+w.vfLine(0, "pciback")+"\n"+w.vfLine(1, "pciback")+"\n"+
			fmt.Sprintf("assignable  %s  8086:10d3 driver=pciback original=e1000e\n", w.dev["nic"]))
	}, op: restore, check: func(w *crashWorld) error {
		st, err := w.stateOf(w.dev["nic"])
		if err == nil && st != inAssignable {
			err = fmt.Errorf("nic in %s", st)
		}
		return both(err, w.vfsAre(2, false, true))
	}},
}

func TestCrashAfterEveryStepOfSetupOpsRecovers(t *testing.T) { crashMatrix(t, setupCrashCases) }

// Without the host-setup step of recovery, a kill between the change and
// its record is not healed: the matrix can fail. (The mutant: recovery
// of records whose setup edit was taken out.)
func TestSetupCrashMatrixCanFail(t *testing.T) {
	c := setupCrashCases[4] // pci-assignable-add --persist
	caught := false
	for at := 1; !caught; at++ {
		w := newCrashWorld(t)
		w.n, w.at = 0, at
		_, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return c.op(w, svc, sys) })
		if !died {
			break
		}
		w.at = 0
		j := NewJournal(w.state)
		recs, err := j.Pending()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.Setup = nil
			if err := j.write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error { _, err := svc.Recover(false); return err }); err != nil {
			t.Fatal(err)
		}
		caught = c.check(w) != nil
	}
	if !caught {
		t.Error("recovery that forgets the host setup passed every kill point")
	}
}

// Recovery records an sriov change in the host setup the dead run was
// to record it in, whatever the recovering run's own config directory.
func TestSRIOVRecoveryRecordsWhereTheRunWould(t *testing.T) {
	c := setupCrashCases[0] // sriov enable --assignable --persist
	for at := 1; ; at++ {
		w := newCrashWorld(t)
		w.n, w.at = 0, at
		_, died := w.run(func(svc *Service, sys *pcibind.Sysfs) error { return c.op(w, svc, sys) })
		if !died {
			return
		}
		w.at = 0
		svc, _ := w.process()
		svc.configDir = t.TempDir()
		if _, err := svc.Recover(false); err != nil {
			t.Fatalf("killed after %s, recover: %v", w.where, err)
		}
		if err := c.check(w); err != nil {
			t.Fatalf("killed after %s, recovered from another config dir: %v", w.where, err)
		}
	}
}
