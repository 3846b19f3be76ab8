package hotplug

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Binder moves devices between dom0 drivers and stub drivers through
// sysfs, for what libxl cannot do (pci-stub) or where libxl is absent.
// *pcibind.Sysfs satisfies it.
type Binder interface {
	Hide(b xl.PciBdf, target string, m pcibind.Method) error
	GiveBack(b xl.PciBdf) error
	InUse() ([]pcibind.Use, error)
	LoadRecord(b xl.PciBdf) (pcibind.Record, error)
}

// HideChecker says why a device must not be hidden, and what to know
// before it is. *pcibind.Host satisfies it.
type HideChecker interface {
	Refusals(b xl.PciBdf, uses []pcibind.Use) []string
	SiblingsHeldByDom0(b xl.PciBdf) []xl.PciBdf
	Warnings(b xl.PciBdf) []pcibind.Warning
}

// AssignableRequest is one pci-assignable-add.
type AssignableRequest struct {
	Device xl.PciBdf
	Name   string
	Driver string // pcibind.DriverPciback (default) or pcibind.DriverPciStub
	Group  bool   // hide the device's whole same-domain group
	Force  bool   // hide even what dom0 needs
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
}

// ErrNeedsForce refuses to hide a device dom0 needs.
var ErrNeedsForce = errors.New("refused to hide a device dom0 needs")

// AssignableAdd hides devices from dom0 so they can be passed through:
// with libxl for pciback (it records the original driver in xenstore and
// quarantines the device), with sysfs for pci-stub or when libxl is
// absent. Everything is checked first; a failure part-way gives back
// what was hidden.
func (s *Service) AssignableAdd(req AssignableRequest, binder Binder, checker HideChecker) (res AssignableResult, retErr error) {
	driver := req.Driver
	if driver == "" {
		driver = pcibind.DriverPciback
	}
	if driver != pcibind.DriverPciback && driver != pcibind.DriverPciStub {
		return res, fmt.Errorf("driver %q: use %s or %s", driver, pcibind.DriverPciback, pcibind.DriverPciStub)
	}
	if _, ok := s.Host.Device(req.Device); !ok {
		return res, fmt.Errorf("%w: %s (see `xlpt check`)", ErrNoDevice, req.Device)
	}
	targets := []xl.PciBdf{req.Device}
	group := s.Host.Group(req.Device)
	if req.Group {
		if len(group) < 2 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("--group: %s has no same-domain group (it is not conventional PCI behind a bridge)", req.Device))
		} else {
			targets = group
		}
	} else if sib := checker.SiblingsHeldByDom0(req.Device); len(sib) > 0 {
		var held []string
		for _, m := range sib {
			if d, ok := s.Host.Device(m); ok {
				held = append(held, fmt.Sprintf("%s (%s)", m, orNone(d.Driver)))
			}
		}
		if len(held) > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s shares a same-domain group with %s, still held by dom0: "+
				"they must all go to one guest; hide them too (--group)", req.Device, strings.Join(held, ", ")))
		}
	}

	// Refuse before any change, by the readiness rule `check` reports. A
	// device a guest holds is not dom0's to hide (libxl would only say
	// "failed to quarantine").
	var own *owners
	if s.TS != nil {
		var err error
		if own, err = loadOwners(s.TS, s.Host); err != nil {
			return res, err
		}
	}
	uses, useErr := binder.InUse()
	for _, b := range targets {
		d, ok := s.Host.Device(b)
		if !ok {
			continue
		}
		in := ReadinessInput{Device: d, Checker: checker, Uses: uses, UseErr: useErr}
		if own != nil {
			var err error
			if in.Owner, err = own.of(b); err != nil {
				return res, err
			}
		}
		if ow := in.Owner; ow.Kind == OwnedByDomain {
			return res, fmt.Errorf("%w: %s is held by %s; it is assignable already (detach it there first to move it: xlpt pci-detach %d %s)",
				ErrAssignedElsewhere, b, ow, ow.Domid, b)
		}
		if rs := JudgeReadiness(in).Refusals; len(rs) > 0 {
			if !req.Force {
				return res, fmt.Errorf("%w: %s: %s (use --force to override)", ErrNeedsForce, b, strings.Join(rs, "; "))
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("--force: hiding %s although %s", b, strings.Join(rs, "; ")))
		}
	}

	unlock, err := s.lock()
	if err != nil {
		return res, err
	}
	defer unlock()

	var undo undoStack
	defer undo.runOnError(&retErr, s.log())
	for _, b := range targets {
		from := ""
		if d, ok := s.Host.Device(b); ok {
			from = d.Driver
		}
		already := from == driver || (driver == pcibind.DriverPciback && from == "xen-pciback")
		if already {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is already on %s", b, driver))
			if driver != pcibind.DriverPciback || s.TS == nil {
				continue
			}
		}
		b := b
		switch {
		case driver == pcibind.DriverPciback && s.TS != nil:
			// libxl: it remembers the original driver and quarantines
			// the device; on a device already on pciback it only does
			// the latter, and then there is nothing to undo.
			d := xl.NewDevicePci()
			d.PciBdf, d.Name = b, req.Name
			if err := s.TS.PciAssignableAdd(d, true); err != nil {
				return res, fmt.Errorf("make %s assignable: %w", b, err)
			}
			if already {
				continue
			}
			undo.push(func() error { return s.TS.PciAssignableRemove(d, true) })
		default:
			m := pcibind.MethodSlot
			if driver == pcibind.DriverPciStub {
				m = pcibind.MethodNewID
			}
			if err := binder.Hide(b, driver, m); err != nil {
				return res, err
			}
			undo.push(func() error { return binder.GiveBack(b) })
		}
		res.Hidden = append(res.Hidden, Hidden{BDF: b, From: from, To: driver})
	}
	return res, nil
}

// AssignableRemove releases a device from its stub driver; with rebind it
// goes back to the driver it had before. A device xlpt hid with pci-stub
// (or without libxl) is given back from xlpt's own record.
func (s *Service) AssignableRemove(d xl.DevicePci, rebind bool, binder Binder) (string, error) {
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if d.VfuncMask == 0 {
		// By name: libxl 4.17 would go on with the spec's zero BDF,
		// 0000:00:00.0, when no device has the name.
		if s.TS == nil {
			return "", fmt.Errorf("%q: names are kept by libxl, which is not available here; give the BDF", d.Name)
		}
		b, err := s.nameToBdf(d.Name)
		if err != nil {
			return "", err
		}
		d.PciBdf, d.VfuncMask = b, 1
	}
	if d.VfuncMask != 0 {
		// xlpt hid it itself (pci-stub, or pciback without libxl): its
		// own record knows the original driver; libxl's does not.
		if rec, err := binder.LoadRecord(d.PciBdf); err == nil {
			if err := binder.GiveBack(d.PciBdf); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s is back on %s", d.PciBdf, orNone(rec.Driver)), nil
		}
	}
	if s.TS == nil {
		return "", fmt.Errorf("%s: no libxl here, and xlpt has no record of hiding it (only devices xlpt hid can be given back without libxl)", d.PciBdf)
	}
	if err := s.TS.PciAssignableRemove(d, rebind); err != nil {
		return "", fmt.Errorf("release %s: %w", describeDev(d), err)
	}
	if !rebind {
		return fmt.Sprintf("%s released from pciback and left without a driver; bind it with `xlpt pci-assignable-remove -r` next time, or load a driver for it", describeDev(d)), nil
	}
	return fmt.Sprintf("%s released from pciback and given back to its original driver", describeDev(d)), nil
}

func describeDev(d xl.DevicePci) string {
	if d.VfuncMask == 0 && d.Name != "" {
		return fmt.Sprintf("the device named %q", d.Name)
	}
	return d.PciBdf.String()
}

func orNone(driver string) string {
	if driver == "" {
		return "no driver"
	}
	return driver
}
