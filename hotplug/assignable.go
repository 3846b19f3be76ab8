package hotplug

import (
	"errors"
	"fmt"
	"path"
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
	driver := req.Driver
	if driver == "" {
		driver = pcibind.DriverPciback
	}
	if driver != pcibind.DriverPciback && driver != pcibind.DriverPciStub {
		return res, fmt.Errorf("driver %q: use %s or %s", driver, pcibind.DriverPciback, pcibind.DriverPciStub)
	}
	setup, err := s.setupIf(req.Persist)
	if err != nil {
		return res, err
	}
	if _, err := s.sysfsOnly(); err != nil {
		return res, err
	}
	if err := s.readHost(req.Device); err != nil {
		return res, err
	}
	unlock, err := s.lockAndRecover()
	if err != nil {
		return res, err
	}
	defer unlock()
	if _, ok := s.host.Device(req.Device); !ok {
		return res, fmt.Errorf("%w: %s (see `xlpt check`)", ErrNoDevice, req.Device)
	}
	targets := s.hideTargets(req, &res.Warnings)
	if err := s.refuseHide(req, targets, &res.Warnings); err != nil {
		return res, err
	}
	s.log().Debug("readiness judged")
	viaLibxl := driver == pcibind.DriverPciback && s.ts != nil
	rec, err := s.beginHide(targets, viaLibxl)
	if err != nil {
		return res, err
	}
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
	defer u.RunOnError(&retErr, s.log())
	for _, b := range targets {
		h, err := s.hideOne(&u, req, b, driver, viaLibxl, &res.Warnings)
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
	if setup != nil {
		if err := s.persistHidden(setup, req, driver, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// persistHidden records the requested device and everything hidden with
// it (--group) as assignable in the host setup.
func (s *Service) persistHidden(p *PersistFile, req AssignableRequest, driver string, res *AssignableResult) error {
	from := map[xl.PciBdf]string{}
	for _, h := range res.Hidden {
		from[h.BDF] = h.From
	}
	if _, ok := from[req.Device]; !ok {
		if d, ok := s.host.Device(req.Device); ok {
			from[req.Device] = d.Driver
		}
	}
	for b, orig := range from {
		name := ""
		if b == req.Device {
			name = req.Name
		}
		if err := p.RecordAssignable(b, driver, name, orig, s.sysfs); err != nil {
			return err
		}
	}
	if err := p.Save(); err != nil {
		return err
	}
	res.Notes = append(res.Notes, "recorded in "+p.Path)
	return nil
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
// dom0 uses needs --force.
func (s *Service) refuseHide(req AssignableRequest, targets []xl.PciBdf, warnings *[]string) error {
	// By the readiness rule `check` reports.
	var own *owners
	if s.ts != nil {
		var err error
		if own, err = loadOwners(s.ts, s.host); err != nil {
			return err
		}
	}
	uses, useErr := s.sysfs.InUse()
	s.log().Debug("dom0's mounts, swap and default route read")
	if useErr == nil {
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
			if !req.Force {
				return fmt.Errorf("%w: %s: %s (use --force to override)", ErrNeedsForce, b, strings.Join(rs, "; "))
			}
			*warnings = append(*warnings, fmt.Sprintf("--force: hiding %s although %s", b, strings.Join(rs, "; ")))
		}
	}
	return nil
}

// beginHide journals a hide through libxl with each device's driver now:
// libxl forgets it when its add dies after the unbind. (pcibind keeps its
// own record for what it hides through sysfs.)
func (s *Service) beginHide(targets []xl.PciBdf, viaLibxl bool) (*Record, error) {
	if !viaLibxl || s.journal == nil {
		return nil, nil
	}
	rec := &Record{Op: OpHide}
	for _, b := range targets {
		rec.Devices = append(rec.Devices, Intent{BDF: b, Driver: s.driverNow(b)})
	}
	return rec, s.journal.Begin(rec)
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
	already := from == driver || (driver == pcibind.DriverPciback && from == "xen-pciback")
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
		m = pcibind.MethodNewID
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
	setup, err := s.setupIf(req.Persist)
	if err != nil {
		return res, err
	}
	res.Message, err = s.release(req.Device, req.Rebind)
	if err != nil || setup == nil {
		return res, err
	}
	return res, s.unpersist(setup, req.Device, &res)
}

// unpersist forgets a released device in the host setup.
func (s *Service) unpersist(p *PersistFile, d xl.DevicePci, res *ReleaseResult) error {
	if e, ok := p.ByName(d.Name); ok && d.Name != "" {
		d.PciBdf = e.BDF
	}
	if !p.Drop(PersistAssignable, d.PciBdf) {
		res.Notes = append(res.Notes, fmt.Sprintf("%s was not in %s", d.PciBdf, p.Path))
		return nil
	}
	if err := p.Save(); err != nil {
		return err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%s removed from %s", d.PciBdf, p.Path))
	return nil
}

// release is AssignableRemove's work, under the host lock.
func (s *Service) release(d xl.DevicePci, rebind bool) (msg string, retErr error) {
	if _, err := s.sysfsOnly(); err != nil {
		return "", err
	}
	if err := s.readHost(d.PciBdf); err != nil {
		return "", err
	}
	unlock, err := s.lockAndRecover()
	if err != nil {
		return "", err
	}
	defer unlock()
	if d.VfuncMask == 0 {
		// By name: libxl 4.17 would go on with the spec's zero BDF,
		// 0000:00:00.0, when no device has the name.
		if s.ts == nil {
			return "", fmt.Errorf("%q: names are kept by libxl, which is not available here; give the BDF", d.Name)
		}
		b, err := s.nameToBdf(d.Name)
		if err != nil {
			return "", err
		}
		d.PciBdf, d.VfuncMask = b, 1
	}
	if s.ts != nil {
		if err := s.refuseHeld(d); err != nil {
			return "", err
		}
	}
	if d.VfuncMask != 0 {
		// xlpt hid it itself (pci-stub, or pciback without libxl): its
		// own record knows the original driver; libxl's does not.
		if rec, err := s.sysfs.LoadRecord(d.PciBdf); err == nil {
			if err := s.sysfs.GiveBack(d.PciBdf); err != nil {
				return "", err
			}
			s.dropProbeOverride(d.PciBdf)
			return fmt.Sprintf("%s is back on %s", d.PciBdf, OrNone(rec.Driver)), nil
		}
	}
	if s.ts == nil {
		return "", fmt.Errorf("%s: no libxl here, and xlpt has no record of hiding it (only devices xlpt hid can be given back without libxl)", d.PciBdf)
	}
	rec, err := s.beginGive(d, rebind)
	if err != nil {
		return "", err
	}
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
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
// give-back that dies after the unbind is finished by recovery.
func (s *Service) beginGive(d xl.DevicePci, rebind bool) (*Record, error) {
	if s.journal == nil || d.VfuncMask == 0 {
		return nil, nil
	}
	in := Intent{BDF: d.PciBdf}
	es, err := s.ts.PciXsEntries()
	if err != nil {
		return nil, fmt.Errorf("read libxl's record of %s: %w", d.PciBdf, err)
	}
	for _, e := range es {
		if e.BDF == d.PciBdf && e.DriverPath != "" {
			in.Driver = path.Base(e.DriverPath)
		}
	}
	rec := &Record{Op: OpGive, Rebind: rebind, Devices: []Intent{in}}
	return rec, s.journal.Begin(rec)
}

// OrNone names a driver for a message: "no driver" for none.
func OrNone(driver string) string {
	if driver == "" {
		return "no driver"
	}
	return driver
}
