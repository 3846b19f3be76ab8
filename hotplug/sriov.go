package hotplug

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xlpt/xlpt/internal/undo"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// SR-IOV refusals callers branch on.
var (
	ErrVFsAssigned = errors.New("VFs are assigned to guests")
	ErrPFHidden    = errors.New("the PF is not on its own driver")
	ErrPFHasVFs    = errors.New("the device is an SR-IOV PF with VFs enabled")
)

// DefaultVFWait bounds the wait for new VFs to appear.
const DefaultVFWait = 10 * time.Second

// VFInfo is one VF in `sriov list`.
type VFInfo struct {
	Index  int       `json:"index"`
	BDF    xl.PciBdf `json:"bdf"`
	Driver string    `json:"driver"`
	// Owner is Owner.Word: "dom0_driver", "none", "assignable" or "domain".
	Owner    string `json:"owner"`
	OwnerStr string `json:"owner_text"`
	Domid    uint32 `json:"domid,omitempty"`
	Domain   string `json:"domain,omitempty"`
	MSI      bool   `json:"msi"`
	MSIX     bool   `json:"msix"`
	// Problem says what is wrong with the numbering (a virtfn link that
	// disagrees with offset/stride, or a VF missing from the bus).
	Problem string `json:"problem,omitempty"`
}

// PFInfo is one PF in `sriov list`: its state, and its VFs with what is
// known of each (VFs shadows the state's bare list of virtfn links).
type PFInfo struct {
	pcibind.SRIOVState
	VFs []VFInfo `json:"vfs"`
}

// SRIOVList lists every PF of the host with its VFs, numbered from the
// SR-IOV capability and checked against the kernel's virtfn links, with
// each VF's owner (libxl's domain lists when s.ts is set, else what sysfs
// shows).
func (s *Service) SRIOVList() ([]PFInfo, error) {
	if _, err := s.sysfsOnly(); err != nil {
		return nil, err
	}
	// Every PF: the one command here that needs the whole bus.
	if err := s.scanHost(); err != nil {
		return nil, err
	}
	host := s.host
	ownerOf := s.ownerFunc(host)
	out := []PFInfo{}
	for _, d := range host.Devices {
		if !d.IsPF() || d.IsVF() {
			continue
		}
		st, err := s.sysfs.SRIOVState(d.BDF)
		if errors.Is(err, pcibind.ErrNotPF) {
			continue // an SR-IOV capability the kernel does not drive
		}
		if err != nil {
			return nil, err
		}
		pf := PFInfo{SRIOVState: st, VFs: []VFInfo{}}
		slots, err := host.VFSlots(d.BDF)
		if err != nil {
			return nil, err
		}
		for _, sl := range slots {
			v := VFInfo{Index: sl.Index, BDF: sl.BDF, Problem: sl.Mismatch()}
			if vd, ok := host.Device(sl.BDF); ok {
				v.Driver, v.MSI, v.MSIX = vd.Driver, vd.Caps.MSI, vd.Caps.MSIX
			} else if v.Problem == "" {
				v.Problem = "not on the bus"
			}
			o, err := ownerOf(sl.BDF)
			if err != nil {
				return nil, err
			}
			v.Owner, v.OwnerStr = o.Word(), o.String()
			if o.Kind == OwnedByDomain {
				v.Domid, v.Domain = o.Domid, o.DomName
			}
			pf.VFs = append(pf.VFs, v)
		}
		out = append(out, pf)
	}
	return out, nil
}

// SRIOVRequest is one `sriov enable` (NumVFs > 0) or `sriov disable`
// (NumVFs 0).
type SRIOVRequest struct {
	PF         xl.PciBdf
	NumVFs     int
	Assignable bool   // make every VF assignable
	Driver     string // for Assignable: pciback (default) or pci-stub
	Wait       time.Duration
	Persist    bool // also record the count (and the hidden VFs) in the host setup
}

// SRIOVResult says what changed.
type SRIOVResult struct {
	Change   pcibind.NumVFsChange `json:"change"`
	Changed  bool                 `json:"changed"`
	Released []xl.PciBdf          `json:"released"` // VFs taken off pciback before they went
	Hidden   []Hidden             `json:"hidden"`
	// AutoprobeOff: sriov_drivers_autoprobe was set to 0 so that no dom0
	// driver probes the new VFs (they are for guests).
	AutoprobeOff bool     `json:"autoprobe_off"`
	Warnings     []string `json:"-"` // for the caller to print (not a result)
	// Persisted is the host-setup file the change was recorded in.
	Persisted string `json:"persisted,omitempty"`
}

// SetVFs sets a PF's VF count as the kernel requires (through 0 when a
// non-zero count changes) and, with Assignable, hides every VF. It
// refuses while any VF that would go is in a guest (naming the guests),
// and on a PF that is hidden or in a guest itself. VFs on pciback but in
// no guest are released through libxl first (dequarantined), so neither
// Xen nor xenstore keeps a device that no longer exists. A failure
// part-way puts the old count back and gives back what was hidden.
func (s *Service) SetVFs(req SRIOVRequest) (res SRIOVResult, retErr error) {
	if _, err := s.sysfsOnly(); err != nil {
		return res, err
	}
	// Under the lock from here, the preflight included: the owners of
	// the VFs are read while no other run can put one into a guest.
	unlock, err := s.lockAndRecover()
	if err != nil {
		return res, err
	}
	defer unlock()
	if req.Persist {
		if _, err := s.loadSetup(); err != nil {
			return res, err
		}
	}
	if err := s.readHost(req.PF); err != nil {
		return res, err
	}
	return s.setVFsJournaled(req)
}

// setVFsJournaled is SetVFs under the host lock: one journal record for
// the whole sequence, undone on failure.
func (s *Service) setVFsJournaled(req SRIOVRequest) (res SRIOVResult, retErr error) {
	rec := &Record{Op: OpSRIOV, SRIOV: &req, Dir: s.configDir}
	if err := s.journal.Begin(rec); err != nil {
		return res, err
	}
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
	defer u.RunOnError(&retErr, s.log())
	return s.setVFsLocked(req, rec, &u)
}

// setVFsLocked is SetVFs under the host lock, each step journaled in rec
// and its undo pushed on u. Every step is idempotent: run again on a PF a
// dead run left half-way, it finishes the job (recovery does so).
func (s *Service) setVFsLocked(req SRIOVRequest, rec *Record, u *undo.Stack) (res SRIOVResult, retErr error) {
	if req.Wait == 0 {
		req.Wait = DefaultVFWait
	}
	st, err := s.sysfs.SRIOVState(req.PF)
	if err != nil {
		return res, err
	}
	if req.NumVFs < 0 || req.NumVFs > st.TotalVFs {
		return res, fmt.Errorf("%w: %s has %d VFs at most (sriov_totalvfs), %d asked", pcibind.ErrVFCount, req.PF, st.TotalVFs, req.NumVFs)
	}
	own := s.ownerFunc(s.host)
	if err := s.sriovPreflight(req, st, own); err != nil {
		return res, err
	}
	if st.NumVFs != req.NumVFs {
		if err := s.changeVFs(req, st, own, rec, u, &res); err != nil {
			return res, err
		}
	} else {
		res.Change = pcibind.NumVFsChange{PF: req.PF, From: st.NumVFs, To: st.NumVFs, VFs: st.VFs}
	}
	if req.Assignable && req.NumVFs > 0 {
		if err := s.hideVFs(req, rec, u, &res); err != nil {
			return res, err
		}
	}
	if !req.Persist {
		return res, nil
	}
	p, err := s.loadSetup()
	if err != nil {
		return res, err
	}
	if err := s.persistVFs(p, req, &res); err != nil {
		return res, err
	}
	return res, s.journal.Step(rec, stepSetup)
}

// changeVFs takes the old VFs off their stub driver, keeps dom0 drivers
// off VFs meant for guests (sriov_drivers_autoprobe 0), and sets the new
// count, waiting for the VFs.
func (s *Service) changeVFs(req SRIOVRequest, st pcibind.SRIOVState, own ownerFunc, rec *Record, u *undo.Stack, res *SRIOVResult) error {
	if err := s.releaseVFs(st, own, rec, res); err != nil {
		return err
	}
	if req.Assignable && st.Autoprobe && req.NumVFs > 0 {
		if err := s.sysfs.SetAutoprobe(req.PF, false); err != nil {
			return fmt.Errorf("%s: keep dom0 drivers off the new VFs: %w", req.PF, err)
		}
		res.AutoprobeOff = true
		u.Push("sriov_drivers_autoprobe 1", func() error { return s.sysfs.SetAutoprobe(req.PF, true) })
		if err := s.journal.Step(rec, "sriov_drivers_autoprobe 0"); err != nil {
			return err
		}
	}
	ch, err := s.sysfs.SetNumVFs(req.PF, req.NumVFs, req.Wait)
	res.Change, res.Changed = ch, true
	if err != nil {
		return err
	}
	from := st.NumVFs
	u.Push(fmt.Sprintf("sriov_numvfs %d", from), func() error { _, err := s.sysfs.SetNumVFs(req.PF, from, req.Wait); return err })
	if ch.Waited > time.Second {
		what := "appear"
		if req.NumVFs == 0 {
			what = "go"
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: the VFs took %.1fs to %s", req.PF, ch.Waited.Seconds(), what))
	}
	if req.NumVFs < from {
		if w := s.removedVFsWarning(req.PF); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
	}
	return s.journal.Step(rec, fmt.Sprintf("sriov_numvfs %d", req.NumVFs))
}

// removedVFsWarning: Xen 4.17 and 4.18 keep an HVM guest's record of a
// passed-through device's MSI-X table after its last vector is unbound
// (msixtbl_pt_unregister's inverted refcount test; fixed by Xen commit
// ea87662c77, in 4.19.4, 4.20.3 and 4.21.1). A removed VF's record
// outlives the VF, and the guest's next access to the old table address
// makes Xen read freed memory: the testbed's 4.17 panicked so
// (docs/xen-417-msix-vf-use-after-free.md). xlpt cannot see which guests
// held a VF once it is detached, so it says what to do.
func (s *Service) removedVFsWarning(pf xl.PciBdf) string {
	ts := s.openToolstack()
	if ts == nil { // no hypervisor (sysfs only): nothing to warn of
		return ""
	}
	phys, err := ts.PhysInfo()
	if err != nil || phys.XenMajor != 4 || phys.XenMinor == 0 || phys.XenMinor >= 19 {
		return ""
	}
	return fmt.Sprintf("%s: Xen 4.%d keeps an HVM guest's record of a detached device's MSI-X table (fixed upstream in 4.19.4, 4.20.3 and 4.21.1): "+
		"restart every HVM guest that held one of the removed VFs before it gets another device, or Xen may crash", pf, phys.XenMinor)
}

// hideVFs makes every VF of the change assignable, each a hide of its
// own (journaled, undone on failure).
func (s *Service) hideVFs(req SRIOVRequest, rec *Record, u *undo.Stack, res *SRIOVResult) error {
	host, err := s.sysfs.Read(res.Change.VFs...)
	if err != nil {
		return fmt.Errorf("read the host's PCI devices after enabling VFs: %w", err)
	}
	sub := *s
	sub.host = host
	for _, vf := range res.Change.VFs {
		r, err := sub.assignableAddLocked(AssignableRequest{Device: vf, Driver: req.Driver}, nil)
		res.Warnings = append(res.Warnings, r.Warnings...)
		if err != nil {
			return err
		}
		for _, h := range r.Hidden {
			h := h
			res.Hidden = append(res.Hidden, h)
			u.Push("give back "+h.BDF.String(), func() error {
				d := xl.NewDevicePci()
				d.PciBdf, d.VfuncMask = h.BDF, 1
				_, err := sub.releaseLocked(d, true, nil)
				return err
			})
		}
		if err := s.journal.Step(rec, "hidden "+vf.String()); err != nil {
			return err
		}
	}
	return nil
}

// persistVFs records the PF's count, its autoprobe as it is now and,
// for --assignable, its VFs as assignable, in the host setup.
func (s *Service) persistVFs(p *PersistFile, req SRIOVRequest, res *SRIOVResult) error {
	st, err := s.sysfs.SRIOVState(req.PF)
	if err != nil {
		return err
	}
	if err := p.RecordSRIOV(req.PF, req.NumVFs, st.Autoprobe, res.Change.VFs, req.Assignable, req.Driver, s.sysfs); err != nil {
		return err
	}
	if err := p.Save(); err != nil {
		return err
	}
	res.Persisted = p.Path
	return nil
}

// ownerFunc says who holds a function.
type ownerFunc func(xl.PciBdf) (Owner, error)

// ownerFunc is libxl's answer when there is libxl, else what sysfs shows
// (a function on pciback is then "assignable").
func (s *Service) ownerFunc(host *pcibind.Host) ownerFunc {
	if s.ts != nil {
		return Owners(s.ts, host)
	}
	return func(b xl.PciBdf) (Owner, error) {
		d, ok := host.Device(b)
		switch {
		case !ok || d.Driver == "":
			return Owner{Kind: OwnedByNobody}, nil
		case pcibind.IsPciback(d.Driver):
			return Owner{Kind: OwnedByPciback}, nil
		}
		return Owner{Kind: OwnedByDom0Driver, Driver: d.Driver}, nil
	}
}

// sriovPreflight refuses a change that would pull VFs from under guests,
// or that the PF's state forbids, before anything is written.
func (s *Service) sriovPreflight(req SRIOVRequest, st pcibind.SRIOVState, own ownerFunc) error {
	if pcibind.IsStub(st.Driver) || st.Driver == "" {
		what := "has no driver"
		if st.Driver != "" {
			what = "is on " + st.Driver
		}
		return fmt.Errorf("%w: %s %s; only the PF's own driver can create VFs (give it back first: xlpt pci-assignable-remove -r %s)",
			ErrPFHidden, req.PF, what, req.PF)
	}
	if o, err := own(req.PF); err != nil {
		return err
	} else if o.Kind == OwnedByDomain {
		return fmt.Errorf("%w: %s is held by %s", ErrPFHidden, req.PF, o)
	}
	if st.NumVFs == req.NumVFs {
		return nil
	}
	var held []string
	for _, vf := range st.VFs {
		o, err := own(vf)
		if err != nil {
			return err
		}
		if o.Kind == OwnedByDomain {
			held = append(held, fmt.Sprintf("%s in %s", vf, o))
		}
	}
	if len(held) > 0 {
		verb := fmt.Sprintf("change %s's VFs from %d to %d", req.PF, st.NumVFs, req.NumVFs)
		if req.NumVFs == 0 {
			verb = fmt.Sprintf("disable %s's VFs", req.PF)
		}
		return fmt.Errorf("%w: cannot %s (the kernel removes every VF first): %s; detach them first (xlpt pci-detach DOMAIN VF)",
			ErrVFsAssigned, verb, strings.Join(held, ", "))
	}
	return nil
}

// releaseVFs takes the PF's VFs off their stub driver before the kernel
// removes them.
func (s *Service) releaseVFs(st pcibind.SRIOVState, own ownerFunc, rec *Record, res *SRIOVResult) error {
	for _, vf := range st.VFs {
		o, err := own(vf)
		if err != nil {
			return err
		}
		if o.Kind != OwnedByPciback {
			if d, ok := s.host.Device(vf); !ok || d.Driver != pcibind.DriverPciStub {
				continue
			}
		}
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = vf, 1
		if _, err := s.releaseLocked(d, false, nil); err != nil {
			return fmt.Errorf("release %s before removing it: %w", vf, err)
		}
		res.Released = append(res.Released, vf)
		if err := s.journal.Step(rec, "released "+vf.String()); err != nil {
			return err
		}
	}
	return nil
}

// SRIOVCheck refuses to pass through a PF whose VFs are enabled: its
// driver in dom0 manages them (assign the VFs instead).
func SRIOVCheck(host *pcibind.Host) DeviceCheck {
	return func(dom Domain, dev xl.DevicePci) ([]string, error) {
		if d, ok := host.Device(dev.PciBdf); ok && d.NumVFs > 0 {
			return nil, fmt.Errorf("%w: %s has %d VFs enabled, managed by its dom0 driver; pass a VF through instead, or disable them first (xlpt sriov disable %s)",
				ErrPFHasVFs, dev.PciBdf, d.NumVFs, dev.PciBdf)
		}
		return nil, nil
	}
}

// probeOverride is the small step before a hide (libxl's or xlpt's own)
// of a VF whose PF has sriov_drivers_autoprobe=0: the kernel then probes
// such a VF only when its driver_override is set, and libxl's pciback
// bind fails with ENODEV. It sets driver_override to the stub driver and
// pushes the undo. libxl then records no original driver (the VF has
// none), which is right: after pci-assignable-remove the VF is driverless
// again, and dropProbeOverride clears the override so it is exactly as
// before.
func (s *Service) probeOverride(b xl.PciBdf, driver string, u *undo.Stack) error {
	changed, restore, err := s.sysfs.ProbeOverride(b, driver)
	if err != nil {
		return err
	}
	if changed {
		u.Push("driver_override of "+b.String(), restore)
	}
	return nil
}

// dropProbeOverride clears the override probeOverride set, once the
// device has left the stub driver; a failure only warns (the device is
// released, and the override only steers future probes).
func (s *Service) dropProbeOverride(b xl.PciBdf) {
	for _, drv := range []string{pcibind.DriverPciback, pcibind.DriverPciStub} {
		if err := s.sysfs.DropProbeOverride(b, drv); err != nil {
			s.log().Warnf("%s: clear driver_override %s: %v", b, drv, err)
		}
	}
}
