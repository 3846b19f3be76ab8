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
	// More are further specs of the same command (xlpt pci-detach DOM
	// SPEC SPEC...): every device named is detached, an HVM guest's at
	// once (parallel.go). Of several specs, one that names nothing the
	// guest holds is left out with a note (what it asks holds already:
	// the command run again after a part of it finished); the command
	// fails only when none does.
	More  []xl.DevicePci
	Force bool // remove without the guest's consent
	Group bool // detach the device's whole same-domain group
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

// Detach removes the requested functions, highest function first; an HVM
// guest's in different guest slots at once. A guest that does not
// acknowledge the eject leaves the device attached; the error then says
// so and offers --force.
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
	targets, done, err := s.planDetachAll(dom, req, list, &res.Notes)
	if err != nil {
		return res, err
	}
	if len(done) > 0 {
		res.Detached = done
		res.Notes = append(res.Notes, fmt.Sprintf("an earlier detach of %s from %s was interrupted; this run found it finished (the device is assignable)", describeDevs(done), dom))
	}
	if len(targets) == 0 {
		res.Resumed = true
		return res, nil
	}
	rec, err := s.beginDetach(dom, targets)
	if err != nil {
		return res, err
	}
	s.log().Debug("detach journaled")
	// A detach that fails leaves what libxl left; the sweep of the next
	// run's recovery looks at it. Only a run that dies keeps its record.
	defer s.endRecord(rec, &undo.Stack{}, &retErr)
	// One chain per guest slot, each highest function first; the chains
	// of an HVM guest at once.
	parallel := s.parallelFor(dom)
	chains := bySlot(parallel, targets)
	notes := make([][]string, len(targets))
	detached := make([]bool, len(targets))
	errs := each(parallel, len(chains), func(c int) error {
		for k, i := range chains[c] {
			if k > 0 {
				if stop, err := s.stopAsked(); stop {
					return err
				}
			}
			if err := s.detachOne(rec, dom, targets[i], req.Force, &notes[i]); err != nil {
				return err
			}
			detached[i] = true
		}
		return nil
	})
	for i, d := range targets {
		res.Notes = append(res.Notes, notes[i]...)
		if detached[i] {
			res.Detached = append(res.Detached, d)
			res.Notes = append(res.Notes, fmt.Sprintf("%s stays on pciback, quarantined by Xen; "+
				"attach it elsewhere, or give it back to dom0 with `xlpt pci-assignable-remove -r %s`", d.PciBdf, d.PciBdf))
		}
	}
	return res, joinErrors(errs)
}

// planDetachAll plans every spec of req: the functions to detach, highest
// first, and those an interrupted detach that this run's recovery settled
// took out already (a spec no longer attached for that reason is done).
// Of several specs, one naming nothing attached is noted and left out.
func (s *Service) planDetachAll(dom Domain, req DetachRequest, list []xl.DevicePci, notes *[]string) (targets, done []xl.DevicePci, err error) {
	seen := map[xl.PciBdf]bool{}
	var notAttached []error
	for _, spec := range append([]xl.DevicePci{req.Device}, req.More...) {
		one := req
		one.Device, one.More = spec, nil
		ts, err := s.planDetach(dom, one, list)
		if errors.Is(err, ErrNotAttached) {
			if d := s.detachedByRecovery(dom, one, list); len(d) > 0 {
				done = append(done, d...)
				continue
			}
			if len(req.More) > 0 {
				notAttached = append(notAttached, err)
				continue
			}
		}
		if err != nil {
			return nil, nil, err
		}
		for _, t := range ts {
			if !seen[t.PciBdf] {
				seen[t.PciBdf] = true
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 && len(done) == 0 && len(notAttached) > 0 {
		return nil, nil, notAttached[0]
	}
	for _, err := range notAttached {
		*notes = append(*notes, fmt.Sprintf("nothing to do for it: %v", err))
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[j].PciBdf.Less(targets[i].PciBdf) })
	return targets, done, nil
}

// detachOne removes one function, journaling the intent and the outcome;
// notes gets what its removal said. It may run beside the removes of
// other guest slots' functions.
func (s *Service) detachOne(rec *Record, dom Domain, d xl.DevicePci, force bool, notes *[]string) error {
	// Recovery reads this step: past it, QEMU may have been asked
	// to unplug the device, so a run that dies is finished forward.
	if err := s.journal.Step(rec, "removing "+d.PciBdf.String()); err != nil {
		return err
	}
	var err error
	if force {
		err = s.forceRemove(dom, d, notes)
	} else {
		err = s.removeFromGuest(dom, d, notes)
	}
	if err != nil {
		if isTimeout(err) && !force {
			return fmt.Errorf("%w: %s did not acknowledge the eject of %s within libxl's timeout "+
				"(is the device in use, or is ACPI hot-plug (acpiphp) missing in the guest?); it is still attached: "+
				"retry, or force it with `xlpt pci-detach -f %s %s`: %w",
				ErrDetachTimeout, dom, d.PciBdf, dom, d.PciBdf, err)
		}
		return fmt.Errorf("detach %s from %s: %w", d.PciBdf, dom, err)
	}
	return s.journal.Step(rec, "detached "+d.PciBdf.String())
}

// forceRemove is libxl's forced remove of d; a function the guest's QEMU
// still has afterwards (the guest never released it) is recorded as a
// leftover (leftover.go).
func (s *Service) forceRemove(dom Domain, d xl.DevicePci, notes *[]string) error {
	if err := s.ts.PciDestroy(dom.Domid, d); err != nil {
		return err
	}
	if !dom.IsHVM() || s.dm == nil {
		return nil
	}
	if in, err := s.inDeviceModel(dom.Domid, d.PciBdf); err != nil || !in {
		return nil
	}
	msg, err := s.noteForcedLeftover(dom, d.PciBdf)
	*notes = append(*notes, msg)
	if err != nil {
		return fmt.Errorf("%s was removed, but its leftover could not be recorded: %w", d.PciBdf, err)
	}
	return nil
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
func (s *Service) removeFromGuest(dom Domain, d xl.DevicePci, notes *[]string) error {
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
	*notes = append(*notes, fmt.Sprintf("%s: %s's device model no longer had it (an earlier detach finished after libxl gave up); "+
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
