package hotplug

import (
	"errors"
	"fmt"
	"sort"

	"github.com/xlpt/xlpt/internal/undo"

	"github.com/xlpt/xlpt/xl"
)

// DetachRequest is one pci-detach.
type DetachRequest struct {
	Domain string
	Device xl.DevicePci // BDF, BB:DD.* or name=
	Force  bool         // remove without the guest's consent
	Group  bool         // detach the device's whole same-domain group
}

// DetachResult says what was detached and where the devices are now.
type DetachResult struct {
	Domain   Domain
	Detached []xl.DevicePci
	Notes    []string
	// Resumed: the detach was an interrupted run's, finished (by it or
	// by this run's recovery) before this run looked; nothing was left
	// to do.
	Resumed bool
}

// Detach removes the requested functions, highest function first. A
// guest that does not acknowledge the eject leaves the device attached;
// the error then says so and offers --force.
func (s *Service) Detach(req DetachRequest) (res DetachResult, retErr error) {
	unlock, err := s.begin(req.Device)
	if err != nil {
		return res, err
	}
	defer unlock()
	return s.detachLocked(req)
}

// detachLocked is Detach under the host lock.
func (s *Service) detachLocked(req DetachRequest) (res DetachResult, retErr error) {
	dom, err := s.resolve(req.Domain)
	if err != nil {
		return res, err
	}
	res.Domain = dom
	list, err := s.ts.PciList(dom.Domid)
	if err != nil {
		return res, fmt.Errorf("list PCI devices of %s: %w", dom, err)
	}
	targets, err := s.planDetach(dom, req, list)
	if errors.Is(err, ErrNotAttached) {
		if done := s.detachedByRecovery(dom, req, list); len(done) > 0 {
			res.Detached, res.Resumed = done, true
			res.Notes = append(res.Notes, fmt.Sprintf("an earlier detach of %s from %s was interrupted; this run found it finished (the device is assignable)", describeDevs(done), dom))
			return res, nil
		}
	}
	if err != nil {
		return res, err
	}
	rec, err := s.beginDetach(dom, targets)
	if err != nil {
		return res, err
	}
	s.log().Debug("detach journaled")
	// A detach that fails leaves what libxl left; the sweep of the next
	// run's recovery looks at it. Only a run that dies keeps its record.
	defer s.endRecord(rec, &undo.Stack{}, &retErr)
	for _, d := range targets {
		// Recovery reads this step: past it, QEMU may have been asked
		// to unplug the device, so a run that dies is finished forward.
		if err := s.journal.Step(rec, "removing "+d.PciBdf.String()); err != nil {
			return res, err
		}
		if req.Force {
			err = s.ts.PciDestroy(dom.Domid, d)
		} else {
			err = s.removeFromGuest(dom, d, &res)
		}
		if err != nil {
			if isTimeout(err) && !req.Force {
				return res, fmt.Errorf("%w: %s did not acknowledge the eject of %s within libxl's timeout "+
					"(is the device in use, or is ACPI hot-plug (acpiphp) missing in the guest?); it is still attached: "+
					"retry, or force it with `xlpt pci-detach -f %s %s`: %w",
					ErrDetachTimeout, dom, d.PciBdf, dom, d.PciBdf, err)
			}
			return res, fmt.Errorf("detach %s from %s: %w", d.PciBdf, dom, err)
		}
		if err := s.journal.Step(rec, "detached "+d.PciBdf.String()); err != nil {
			return res, err
		}
		res.Detached = append(res.Detached, d)
		res.Notes = append(res.Notes, fmt.Sprintf("%s stays on pciback, quarantined by Xen; "+
			"attach it elsewhere, or give it back to dom0 with `xlpt pci-assignable-remove -r %s`", d.PciBdf, d.PciBdf))
	}
	return res, nil
}

// detachedByRecovery is what an interrupted detach from dom, settled by
// this run's recovery, took out of it of the requested device: the
// request is then already done. list is what dom holds now.
func (s *Service) detachedByRecovery(dom Domain, req DetachRequest, list []xl.DevicePci) []xl.DevicePci {
	var out []xl.DevicePci
	for _, rec := range s.settled {
		if rec.Op != OpDetach || rec.Domid != dom.Domid {
			continue
		}
		for _, in := range rec.Devices {
			w := req.Device
			if !(w.VfuncMask != 0 && w.PciBdf == in.BDF) && !(w.AllFuncs() && w.PciBdf.Slot() == in.BDF.Slot()) {
				continue
			}
			if containsDev(list, in.BDF) {
				continue
			}
			d := xl.NewDevicePci()
			d.PciBdf, d.Vdevfn = in.BDF, in.Vdevfn
			out = append(out, d)
		}
	}
	return out
}

func containsDev(list []xl.DevicePci, b xl.PciBdf) bool {
	for _, d := range list {
		if d.PciBdf == b {
			return true
		}
	}
	return false
}

// describeDevs lists the devices' BDFs for a message (xl.JoinBdfs).
func describeDevs(ds []xl.DevicePci) string {
	bs := make([]xl.PciBdf, len(ds))
	for i, d := range ds {
		bs[i] = d.PciBdf
	}
	return xl.JoinBdfs(bs)
}

// removeFromGuest asks libxl to remove d. When that fails and the
// guest's QEMU no longer has the device, libxl's list is all that is
// left of it (an earlier detach whose eject finished after libxl gave
// up, or a detach that died): libxl's forced remove finishes the job.
func (s *Service) removeFromGuest(dom Domain, d xl.DevicePci, res *DetachResult) error {
	err := s.ts.PciRemove(dom.Domid, d)
	if err == nil || isTimeout(err) || !dom.IsHVM() || s.dm == nil {
		return err
	}
	if in, derr := s.inDeviceModel(dom.Domid, d.PciBdf); derr != nil || in {
		return err
	}
	if ferr := s.ts.PciDestroy(dom.Domid, d); ferr != nil {
		return fmt.Errorf("%w; its device model no longer has it, and libxl's forced remove failed too: %w", err, ferr)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%s: %s's device model no longer had it (an earlier detach finished after libxl gave up); "+
		"libxl's forced remove cleared its record", d.PciBdf, dom))
	return nil
}

// inDeviceModel says whether domid's QEMU has b, a device libxl or a
// record places there: QEMU's ids carry bus, device and function only.
func (s *Service) inDeviceModel(domid uint32, b xl.PciBdf) (bool, error) {
	ids, err := s.dm.Devices(domid)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if sameFunc(id, b) {
			return true, nil
		}
	}
	return false, nil
}

// beginDetach journals the detach of targets from dom.
func (s *Service) beginDetach(dom Domain, targets []xl.DevicePci) (*Record, error) {
	if s.journal == nil {
		return nil, nil
	}
	rec := &Record{Op: OpDetach, Domid: dom.Domid, DomName: dom.Name, DomUUID: uuidString(dom.Info), HVM: dom.IsHVM()}
	for _, d := range targets {
		rec.Devices = append(rec.Devices, Intent{BDF: d.PciBdf, Vdevfn: d.Vdevfn})
	}
	return rec, s.journal.Begin(rec)
}

func (s *Service) planDetach(dom Domain, req DetachRequest, list []xl.DevicePci) ([]xl.DevicePci, error) {
	held := map[xl.PciBdf]xl.DevicePci{}
	for _, d := range list {
		held[d.PciBdf] = d
	}
	want := req.Device
	var bdfs []xl.PciBdf
	switch {
	case want.VfuncMask == 0: // name=
		for _, d := range list {
			if d.Name == want.Name {
				bdfs = append(bdfs, d.PciBdf)
			}
		}
		if len(bdfs) == 0 {
			return nil, fmt.Errorf("%w: %s holds no device named %q (%s)", ErrNotAttached, dom, want.Name, holding(list))
		}
	case want.AllFuncs():
		for _, d := range list {
			if d.PciBdf.Slot() == want.PciBdf.Slot() {
				bdfs = append(bdfs, d.PciBdf)
			}
		}
		if len(bdfs) == 0 {
			return nil, fmt.Errorf("%w: %s holds no function of %02x:%02x (%s)", ErrNotAttached, dom, want.Bus, want.Dev, holding(list))
		}
	default:
		if _, ok := held[want.PciBdf]; !ok {
			return nil, fmt.Errorf("%w: %s is not attached to %s (%s)", ErrNotAttached, want.PciBdf, dom, holding(list))
		}
		bdfs = []xl.PciBdf{want.PciBdf}
	}
	if req.Group && s.host != nil {
		for _, b := range append([]xl.PciBdf(nil), bdfs...) {
			for _, m := range s.host.Group(b) {
				if _, ok := held[m]; ok && !contains(bdfs, m) {
					bdfs = append(bdfs, m)
				}
			}
		}
	}
	sort.Slice(bdfs, func(i, j int) bool { return bdfs[j].Less(bdfs[i]) })
	out := make([]xl.DevicePci, 0, len(bdfs))
	for _, b := range bdfs {
		out = append(out, held[b])
	}
	return out, nil
}

func holding(list []xl.DevicePci) string {
	if len(list) == 0 {
		return "it holds no PCI devices"
	}
	var bs []xl.PciBdf
	for _, d := range list {
		bs = append(bs, d.PciBdf)
	}
	return "it holds " + xl.JoinBdfs(bs)
}
