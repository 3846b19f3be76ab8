package hotplug

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/xlpt/xlpt/internal/undo"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// AssignableRequest is one pci-assignable-add.
type AssignableRequest struct {
	Device  xl.PciBdf
	Name    string
	Driver  string // pcibind.DriverPciback (default) or pcibind.DriverPciStub
	Group   bool   // hide the device's whole same-domain group
	Force   bool   // hide even what dom0 needs
	Persist bool   // also record it in the host setup (devices.conf)
}

// Hidden is one device moved to a stub driver.
type Hidden struct {
	BDF  xl.PciBdf `json:"bdf"`
	From string    `json:"from"` // the dom0 driver it had ("" none)
	To   string    `json:"to"`
}

// AssignableResult says what was hidden.
type AssignableResult struct {
	Hidden   []Hidden `json:"hidden"`
	Warnings []string `json:"warnings"`
	Notes    []string `json:"-"` // what else was done (the host setup recorded)
	// Resumed: an interrupted run was hiding the device, and this run's
	// recovery finished it.
	Resumed bool `json:"resumed"`
}

// ErrNeedsForce refuses to hide a device dom0 needs.
var ErrNeedsForce = errors.New("refused to hide a device dom0 needs")

// AssignableAdd hides devices from dom0 so they can be passed through:
// with libxl for pciback (it records the original driver in xenstore and
// quarantines the device), with sysfs for pci-stub or when libxl is
// absent. Everything is checked first; the intent is journaled; a failure
// part-way gives back what was hidden, and a crash is finished by
// recovery.
func (s *Service) AssignableAdd(req AssignableRequest) (res AssignableResult, retErr error) {
	if req.Driver == "" {
		req.Driver = pcibind.DriverPciback
	}
	if req.Driver != pcibind.DriverPciback && req.Driver != pcibind.DriverPciStub {
		return res, fmt.Errorf("driver %q: use %s or %s", req.Driver, pcibind.DriverPciback, pcibind.DriverPciStub)
	}
	if req.Name != "" {
		if err := CheckName(req.Name); err != nil {
			return res, badRequestf("-n: %v", err)
		}
	}
	if _, err := s.sysfsOnly(); err != nil {
		return res, err
	}
	// Under the lock from here: the setup edited and the host read are
	// what this run changes.
	unlock, err := s.lockAndRecover()
	if err != nil {
		return res, err
	}
	defer unlock()
	setup, err := s.setupIf(req.Persist)
	if err != nil {
		return res, err
	}
	if err := s.readHost(req.Device); err != nil {
		return res, err
	}
	return s.assignableAddLocked(req, setup)
}

// assignableAddLocked is AssignableAdd under the host lock; setup is the
// host setup to record the devices in (nil: none).
func (s *Service) assignableAddLocked(req AssignableRequest, setup *PersistFile) (res AssignableResult, retErr error) {
	if req.Driver == "" {
		req.Driver = pcibind.DriverPciback
	}
	if _, ok := s.host.Device(req.Device); !ok {
		return res, fmt.Errorf("%w: %s (see `xlpt check`)", ErrNoDevice, req.Device)
	}
	for _, rec := range s.settled {
		for _, in := range rec.Devices {
			res.Resumed = res.Resumed || rec.Op == OpHide && in.BDF == req.Device
		}
	}
	targets := s.hideTargets(req, &res.Warnings)
	if err := s.refuseHide(req.Force, targets, &res.Warnings, func(xl.PciBdf) string { return "use --force to override" }); err != nil {
		return res, err
	}
	s.log().Debug("readiness judged")
	viaLibxl := req.Driver == pcibind.DriverPciback && s.ts != nil
	rec, err := s.beginHide(req, targets, viaLibxl, setup)
	if err != nil {
		return res, err
	}
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
	defer u.RunOnError(&retErr, s.log())
	for _, b := range targets {
		h, err := s.hideOne(&u, req, b, req.Driver, viaLibxl, &res.Warnings)
		if err != nil {
			return res, err
		}
		if h != nil {
			res.Hidden = append(res.Hidden, *h)
		}
		if err := s.journal.Step(rec, "hidden "+b.String()); err != nil {
			return res, err
		}
	}
	if rec.Setup != nil {
		p, _, err := s.finishSetup(rec)
		if err != nil {
			return res, err
		}
		res.Notes = append(res.Notes, "recorded in "+p.Path)
	}
	return res, nil
}

// finishSetup makes an operation's host-setup edit, its last step.
func (s *Service) finishSetup(rec *Record) (*PersistFile, []bool, error) {
	p, dropped, err := rec.Setup.apply()
	if err != nil {
		return nil, nil, err
	}
	return p, dropped, s.journal.Step(rec, stepSetup)
}

// hideTargets is the device, or its same-domain group with --group; a
// split group is warned about.
func (s *Service) hideTargets(req AssignableRequest, warnings *[]string) []xl.PciBdf {
	group := s.host.Group(req.Device)
	if req.Group {
		if len(group) < 2 {
			*warnings = append(*warnings, fmt.Sprintf("--group: %s has no same-domain group (it is not conventional PCI behind a bridge)", req.Device))
			return []xl.PciBdf{req.Device}
		}
		return group
	}
	var held []string
	for _, m := range s.host.SiblingsHeldByDom0(req.Device) {
		if d, ok := s.host.Device(m); ok {
			held = append(held, fmt.Sprintf("%s (%s)", m, OrNone(d.Driver)))
		}
	}
	if len(held) > 0 {
		*warnings = append(*warnings, fmt.Sprintf("%s shares a same-domain group with %s, still held by dom0: "+
			"they must all go to one guest; hide them too (--group)", req.Device, strings.Join(held, ", ")))
	}
	return []xl.PciBdf{req.Device}
}

// refuseHide refuses before any change: a device a guest holds is not
// dom0's to hide (libxl would only say "failed to quarantine"), and one
// dom0 uses needs force. Every path that hides a device comes here
// (pci-assignable-add, restore, sriov --assignable, pci-attach and
// migrate attach with --assign); fix says how to override on that path.
func (s *Service) refuseHide(force bool, targets []xl.PciBdf, warnings *[]string, fix func(xl.PciBdf) string) error {
	// By the readiness rule `check` reports.
	var own *owners
	if s.ts != nil {
		var err error
		if own, err = loadOwners(s.ts, s.host); err != nil {
			return err
		}
	}
	var uses []pcibind.Use
	var useErr error
	if s.sysfs != nil {
		uses, useErr = s.sysfs.InUse()
		s.log().Debug("dom0's mounts, swap and default route read")
	}
	if s.sysfs != nil && useErr == nil {
		// What dom0 does with these devices now: open device nodes, a
		// NIC up with an address.
		var open []pcibind.Use
		open, useErr = s.sysfs.OpenBy(targets)
		uses = append(uses, open...)
		s.log().Debug("open device nodes and live NICs looked for")
	}
	for _, b := range targets {
		d, ok := s.host.Device(b)
		if !ok {
			continue
		}
		in := ReadinessInput{Device: d, Host: s.host, Uses: uses, UseErr: useErr}
		if own != nil {
			var err error
			if in.Owner, err = own.of(b); err != nil {
				return err
			}
		}
		if ow := in.Owner; ow.Kind == OwnedByDomain {
			return fmt.Errorf("%w: %s is held by %s; it is assignable already (detach it there first to move it: xlpt pci-detach %d %s)",
				ErrAssignedElsewhere, b, ow, ow.Domid, b)
		}
		if rs := JudgeReadiness(in).Refusals; len(rs) > 0 {
			if !force {
				return fmt.Errorf("%w: %s: %s (%s)", ErrNeedsForce, b, strings.Join(rs, "; "), fix(b))
			}
			*warnings = append(*warnings, fmt.Sprintf("--force: hiding %s although %s", b, strings.Join(rs, "; ")))
		}
	}
	return nil
}

// beginHide journals a hide with each device's driver now (libxl
// forgets it when its add dies after the unbind; pcibind keeps its own
// record of a hide through sysfs, whose stub the record names), and the
// host-setup edit to make at the end: the requested device and those the
// hide moves, as assignable.
func (s *Service) beginHide(req AssignableRequest, targets []xl.PciBdf, viaLibxl bool, setup *PersistFile) (*Record, error) {
	rec := &Record{Op: OpHide}
	if !viaLibxl {
		rec.Stub = req.Driver
	}
	for _, b := range targets {
		rec.Devices = append(rec.Devices, Intent{BDF: b, Driver: s.driverNow(b)})
	}
	if setup != nil {
		rec.Setup = &SetupEdit{Dir: filepath.Dir(setup.Path)}
		for _, in := range rec.Devices {
			if in.BDF != req.Device && onTarget(in.Driver, req.Driver) {
				continue // hidden already: not this hide's to record
			}
			name := ""
			if in.BDF == req.Device {
				name = req.Name
			}
			e, err := newAssignableEntry(in.BDF, req.Driver, name, s.originalDriver(in.BDF, in.Driver), s.sysfs)
			if err != nil {
				return nil, err
			}
			rec.Setup.Set = append(rec.Setup.Set, e)
		}
	}
	return rec, s.journal.Begin(rec)
}

// originalDriver is the dom0 driver of b, which is on drv now: drv
// itself, or for a device on a stub the driver xlpt's or libxl's record
// of hiding it keeps ("" when none does).
func (s *Service) originalDriver(b xl.PciBdf, drv string) string {
	if !isStub(drv) {
		return drv
	}
	if rec, err := s.sysfs.LoadRecord(b); err == nil {
		return rec.Driver
	}
	if s.ts != nil {
		if es, err := s.ts.PciXsEntries(); err == nil {
			for _, e := range es {
				if e.BDF == b && e.DriverPath != "" {
					return path.Base(e.DriverPath)
				}
			}
		}
	}
	return ""
}

// onTarget says a device on drv is on the stub driver target already.
func onTarget(drv, target string) bool {
	return drv == target || (target == pcibind.DriverPciback && drv == "xen-pciback")
}

// driverNow reads b's driver: from sysfs when the service has it, else
// from the host snapshot.
func (s *Service) driverNow(b xl.PciBdf) string {
	if s.sysfs != nil {
		if d, err := s.sysfs.CurrentDriver(b); err == nil {
			return d
		}
	}
	if d, ok := s.host.Device(b); ok {
		return d.Driver
	}
	return ""
}

// endRecord ends the journal record when the operation finished or was
// undone; a failed undo keeps it, for recovery to settle.
func (s *Service) endRecord(rec *Record, u *undo.Stack, retErr *error) {
	if p := recover(); p != nil {
		panic(p) // a crash: the record stays, as when the process dies
	}
	if rec == nil || u.Failed() {
		return
	}
	if err := s.journal.End(rec); err != nil && *retErr == nil {
		*retErr = err
	}
}

// hideOne hides one device and pushes its undo; nil when it was there
// already.
func (s *Service) hideOne(u *undo.Stack, req AssignableRequest, b xl.PciBdf, driver string, viaLibxl bool, warnings *[]string) (*Hidden, error) {
	from := s.driverNow(b)
	already := onTarget(from, driver)
	if already {
		*warnings = append(*warnings, fmt.Sprintf("%s is already on %s", b, driver))
		if !viaLibxl {
			return nil, nil
		}
	}
	// A VF of an autoprobe=0 PF: no bind reaches it without an override.
	if err := s.probeOverride(b, driver, u); err != nil {
		return nil, err
	}
	if viaLibxl {
		// libxl remembers the original driver and quarantines the
		// device; on a device already on pciback it only does the
		// latter, and then there is nothing to undo.
		d := xl.NewDevicePci()
		d.PciBdf, d.Name = b, req.Name
		if err := s.ts.PciAssignableAdd(d, true); err != nil {
			return nil, fmt.Errorf("make %s assignable: %w", b, err)
		}
		if already {
			return nil, nil
		}
		u.Push("give back "+b.String(), func() error { return s.ts.PciAssignableRemove(d, true) })
		return &Hidden{BDF: b, From: from, To: driver}, nil
	}
	m := pcibind.MethodSlot
	if driver == pcibind.DriverPciStub {
		m = "" // driver_override where the kernel has it, else new_id (pcibind decides)
	}
	if err := s.sysfs.Hide(b, driver, m); err != nil {
		return nil, err
	}
	u.Push("give back "+b.String(), func() error { return s.sysfs.GiveBack(b) })
	return &Hidden{BDF: b, From: from, To: driver}, nil
}

// ReleaseRequest is one pci-assignable-remove.
type ReleaseRequest struct {
	Device  xl.DevicePci // a BDF, or name=
	Rebind  bool         // back to the driver it had before
	Persist bool         // also forget it in the host setup
}

// ReleaseResult says where the device went.
type ReleaseResult struct {
	Message string
	Notes   []string // what else was done (the host setup edited)
}

// AssignableRemove releases a device from its stub driver; with Rebind
// it goes back to the driver it had before. A device xlpt hid with
// pci-stub (or without libxl) is given back from xlpt's own record. A
// device a guest holds is refused, naming the guest.
func (s *Service) AssignableRemove(req ReleaseRequest) (res ReleaseResult, retErr error) {
	if _, err := s.sysfsOnly(); err != nil {
		return res, err
	}
	unlock, err := s.lockAndRecover()
	if err != nil {
		return res, err
	}
	defer unlock()
	setup, err := s.setupIf(req.Persist)
	if err != nil {
		return res, err
	}
	if err := s.readHost(req.Device.PciBdf); err != nil {
		return res, err
	}
	return s.releaseLocked(req.Device, req.Rebind, setup)
}

// releaseLocked is AssignableRemove under the host lock; setup is the
// host setup to forget the device in (nil: none).
func (s *Service) releaseLocked(d xl.DevicePci, rebind bool, setup *PersistFile) (res ReleaseResult, retErr error) {
	name := d.Name
	if d.VfuncMask == 0 {
		// By name: libxl 4.17 would go on with the spec's zero BDF,
		// 0000:00:00.0, when no device has the name.
		if s.ts == nil {
			return res, fmt.Errorf("%q: names are kept by libxl, which is not available here; give the BDF", d.Name)
		}
		b, err := s.nameToBdf(d.Name)
		if err != nil {
			return res, err
		}
		d.PciBdf, d.VfuncMask = b, 1
	}
	if _, ok := s.host.Device(d.PciBdf); !ok {
		return res, fmt.Errorf("%w: %s (see `xlpt check` for the host's devices)", ErrNoDevice, d.PciBdf)
	}
	if s.ts != nil {
		if err := s.refuseHeld(d); err != nil {
			return res, err
		}
		if err := s.refuseLeftoverRelease(d.PciBdf); err != nil {
			return res, err
		}
	}
	// xlpt hid it itself (pci-stub, or pciback without libxl): its own
	// record knows the original driver; libxl's does not.
	own, ownErr := s.sysfs.LoadRecord(d.PciBdf)
	if ownErr != nil && s.ts == nil {
		if drv := s.driverNow(d.PciBdf); !isStub(drv) {
			res.Message = fmt.Sprintf("%s is on %s, not hidden: nothing to give back", d.PciBdf, OrNone(drv))
			return res, nil
		}
		return res, fmt.Errorf("%s is on %s, but xlpt did not hide it and libxl, which did, is not available here (not a Xen dom0?): give it back there with `xl pci-assignable-remove -r %s`", d.PciBdf, OrNone(s.driverNow(d.PciBdf)), d.PciBdf)
	}
	rec, err := s.beginGive(d, rebind, ownErr == nil, own.Target, setup, name)
	if err != nil {
		return res, err
	}
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
	if res.Message, err = s.giveBack(d, rebind, ownErr == nil, own); err != nil {
		return res, err
	}
	if err := s.journal.Step(rec, "given back "+d.PciBdf.String()); err != nil {
		return res, err
	}
	if rec.Setup != nil {
		p, dropped, err := s.finishSetup(rec)
		if err != nil {
			return res, err
		}
		if b := rec.Setup.Drop[0]; dropped[0] {
			res.Notes = append(res.Notes, fmt.Sprintf("%s removed from %s", b, p.Path))
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("%s was not in %s", b, p.Path))
		}
	}
	return res, nil
}

// giveBack takes d off its stub driver: through xlpt's own record of
// hiding it (byRecord), else through libxl. It says where d went.
func (s *Service) giveBack(d xl.DevicePci, rebind, byRecord bool, own pcibind.Record) (string, error) {
	if byRecord {
		if err := s.sysfs.GiveBack(d.PciBdf); err != nil {
			return "", err
		}
		s.dropProbeOverride(d.PciBdf)
		return fmt.Sprintf("%s is back on %s", d.PciBdf, OrNone(own.Driver)), nil
	}
	if err := s.ts.PciAssignableRemove(d, rebind); err != nil {
		// libxl's first step, taking it out of Xen's quarantine, fails
		// for a device given back already (by an earlier run, or by this
		// run's recovery of one that died), before it changes anything.
		if drv := s.driverNow(d.PciBdf); drv != "" && !isStub(drv) {
			return fmt.Sprintf("%s is already on %s: nothing to give back", d.PciBdf, drv), nil
		}
		return "", fmt.Errorf("release %s: %w", d.Describe(), err)
	}
	s.dropProbeOverride(d.PciBdf)
	if !rebind {
		return fmt.Sprintf("%s released from pciback and left without a driver; bind it with `xlpt pci-assignable-remove -r` next time, or load a driver for it", d.Describe()), nil
	}
	return fmt.Sprintf("%s released from pciback and given back to its original driver", d.Describe()), nil
}

// refuseHeld refuses to release a device a guest holds, before libxl
// (which says only "failed to de-quarantine").
func (s *Service) refuseHeld(d xl.DevicePci) error {
	if d.VfuncMask == 0 {
		return nil // by name: libxl resolves it among the assignable ones
	}
	own, err := loadOwners(s.ts, s.host)
	if err != nil {
		return err
	}
	ow, err := own.of(d.PciBdf)
	if err != nil {
		return err
	}
	if ow.Kind == OwnedByDomain {
		return fmt.Errorf("%w: %s is held by %s; detach it first: xlpt pci-detach %d %s",
			ErrAssignedElsewhere, d.PciBdf, ow, ow.Domid, d.PciBdf)
	}
	return nil
}

// beginGive journals a give-back with the driver libxl will rebind, so a
// give-back that dies after the unbind is finished by recovery (through
// xlpt's own record, byRecord, pcibind's record has it), and the
// host-setup edit to make at the end: the device forgotten (by the name
// it was asked for, when the setup has it).
func (s *Service) beginGive(d xl.DevicePci, rebind, byRecord bool, stub string, setup *PersistFile, name string) (*Record, error) {
	in := Intent{BDF: d.PciBdf}
	rec := &Record{Op: OpGive, Rebind: rebind, Devices: []Intent{in}}
	if byRecord {
		rec.Stub = stub
	} else if s.journal != nil {
		es, err := s.ts.PciXsEntries()
		if err != nil {
			return nil, fmt.Errorf("read libxl's record of %s: %w", d.PciBdf, err)
		}
		for _, e := range es {
			if e.BDF == d.PciBdf && e.DriverPath != "" {
				rec.Devices[0].Driver = path.Base(e.DriverPath)
			}
		}
	}
	if setup != nil {
		b := d.PciBdf
		if e, ok := setup.ByName(name); ok && name != "" {
			b = e.BDF
		}
		rec.Setup = &SetupEdit{Dir: filepath.Dir(setup.Path), Drop: []xl.PciBdf{b}}
	}
	return rec, s.journal.Begin(rec)
}

// OrNone names a driver for a message: "no driver" for none.
func OrNone(driver string) string {
	if driver == "" {
		return "no driver"
	}
	return driver
}
