package hotplug

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/xlpt/xlpt/xl"
)

// MoveRequest is `xlpt pci-move FROM TO SPEC [VSLOT]`.
type MoveRequest struct {
	From, To string
	// Device is the parsed spec: a BDF or BB:DD.*, with the slot wanted
	// in TO in Vdevfn (0: the slot policy chooses).
	Device xl.DevicePci
	Force  bool   // detach from FROM without the guest's consent
	Plan   string // the plan file ("": STATE_DIR/moves/FROM-BDF.plan)
}

// Move is pci-move: the move of req.Device from FROM to TO, recorded in
// its plan (see Migration.Move).
func (s *Service) Move(req MoveRequest) (MigrateResult, error) {
	plan := req.Plan
	if plan == "" {
		dir := filepath.Join(s.stateDir, "moves")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return MigrateResult{}, err
		}
		plan = filepath.Join(dir, fmt.Sprintf("%s-%s.plan", req.From, req.Device.PciBdf))
	}
	return s.Migration(plan).Move(req)
}

// Move switches devices between two running guests: detach from FROM,
// attach to TO, and on a failed attach back to FROM in the old slots. The
// device's same-domain group and a BB:DD.* slot move whole. The plan
// (m.plans) records each step, so the same command finishes a move a
// crash interrupted.
func (m *Migration) Move(req MoveRequest) (MigrateResult, error) {
	return m.run(req.Device, req.From, func() (MigrateResult, error) { return m.move(req) })
}

func (m *Migration) move(req MoveRequest) (MigrateResult, error) {
	var res MigrateResult
	p, err := m.plans.Load()
	if err != nil {
		return res, err
	}
	from, err := m.s.resolve(req.From)
	if err != nil {
		return res, err
	}
	res.Domain = from
	fromList, err := m.s.ts.PciList(from.Domid)
	if err != nil {
		return res, fmt.Errorf("list PCI devices of %s: %w", from, err)
	}
	if p != nil && p.Phase == PhaseMoved && p.Domain == from.String() && p.To == req.To && !heldSpec(fromList, req.Device) {
		res.Plan = p // a re-run of a finished move
		return res, nil
	}
	if p == nil || p.Phase.Reusable() {
		if p, err = m.newMove(req, from, fromList); err != nil {
			return res, err
		}
	} else {
		if err := m.checkPlan(p, "move", from.String(), PhaseMoving, PhaseRollingBck); err != nil {
			return res, err
		}
		if p.To != req.To {
			return res, fmt.Errorf("%w: %s is the move of %s to %s, not to %s", ErrPlan, m.plans, p.Domain, p.To, req.To)
		}
		if err := m.sameHost(p); err != nil {
			return res, err
		}
		m.settle(p, fromList, "source")
	}
	res.Plan = p
	to, err := m.s.resolve(req.To)
	if err != nil {
		return res, err
	}
	toList, err := m.s.ts.PciList(to.Domid)
	if err != nil {
		return res, fmt.Errorf("list PCI devices of %s: %w", to, err)
	}
	m.settle(p, toList, "target")
	if p.Phase == PhaseRollingBck {
		return res, m.moveBack(p, from, to, fmt.Errorf("an earlier run could not attach to %s", to))
	}
	if err := m.detachDevices(p, from, 0); err != nil {
		return res, err
	}
	if err := m.moveAttach(p, to, req.Device); err != nil {
		return res, m.moveBack(p, from, to, err)
	}
	p.Phase = PhaseMoved
	p.event("move", "", "moved from %s to %s", from, to)
	return res, m.plans.Save(p)
}

// newMove checks the request and writes the plan before any change.
func (m *Migration) newMove(req MoveRequest, from Domain, list []xl.DevicePci) (*Plan, error) {
	if req.From == req.To {
		return nil, fmt.Errorf("FROM and TO are both %s: give two guests", req.From)
	}
	dreq := DetachRequest{Domain: req.From, Device: req.Device, Group: true}
	dreq.Device.Vdevfn = 0
	targets, err := m.s.planDetach(from, dreq, list)
	if err != nil {
		return nil, err
	}
	to, err := m.s.resolve(req.To)
	if err != nil {
		return nil, err
	}
	// Refused whole before FROM loses anything: a refusal on TO's add
	// would cost FROM its devices until the move back.
	if err := m.s.preflightDomain(&to); err != nil {
		return nil, err
	}
	if err := m.s.refuseByConfig(&to); err != nil {
		return nil, err
	}
	if slot := req.Device.VSlot(); slot != 0 && to.IsHVM() {
		toList, err := m.s.ts.PciList(to.Domid)
		if err != nil {
			return nil, err
		}
		if _, err := chooseSlot(targets[0].PciBdf, slot, m.s.slots, false, occupants(toList)); err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was moved", to, err)
		}
	}
	p := &Plan{Version: PlanVersion, Kind: "move", Domain: from.String(), To: req.To, SourceHost: m.hostname, Force: req.Force, Phase: PhaseMoving}
	if p.Devices, err = m.describe(targets); err != nil {
		return nil, err
	}
	for i := range p.Devices {
		p.Devices[i].TargetBDF = p.Devices[i].BDF
	}
	p.event("preflight", "", "move %d device(s) from %s to %s", len(p.Devices), from, req.To)
	return p, m.plans.Save(p)
}

// moveAttach attaches everything of the plan to TO in one Attach call, so
// the slot policy places it as pci-attach would.
func (m *Migration) moveAttach(p *Plan, to Domain, spec xl.DevicePci) error {
	var pending []int
	for i, d := range p.Devices {
		if d.State != StateInTarget {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if len(pending) < len(p.Devices) {
		// A crash inside the attach: take the half out, attach it whole.
		all := make([]int, len(p.Devices))
		for i := range all {
			all[i] = i
		}
		if err := m.detachPartial(p, to, all, StateInTarget); err != nil {
			return err
		}
	}
	for i := range p.Devices {
		p.Devices[i].State, p.Devices[i].AttachTo = StateAttaching, "target"
	}
	if err := m.plans.Save(p); err != nil {
		return err
	}
	req := AttachRequest{Domain: to.String(), Device: spec, Group: p.Devices[0].Group != ""}
	if !spec.AllFuncs() {
		// The requested device, with the options it had in FROM, gets
		// the requested slot; its group follows.
		named := p.Devices[len(p.Devices)-1]
		for _, d := range p.Devices {
			if d.bdf() == spec.PciBdf {
				named = d
			}
		}
		req.Device = named.devicePci(named.bdf())
		req.Device.Vdevfn = spec.Vdevfn
	}
	res, err := m.s.attachLocked(req)
	for i := range p.Devices {
		d := &p.Devices[i]
		d.AttachTo, d.State = "", StateDetached
		for _, a := range res.Attached {
			if err == nil && a.PciBdf == d.bdf() {
				d.State, d.TargetSlot = StateInTarget, fmt.Sprintf("%02x.%x", a.VSlot(), a.VFunc())
				p.event("attach", d.BDF, "in %s at guest slot %02x.%x", to, a.VSlot(), a.VFunc())
			}
		}
	}
	if err != nil {
		p.event("attach", "", "to %s failed: %v", to, err)
		return fmt.Errorf("attach to %s: %w", to, err)
	}
	return m.plans.Save(p)
}

// moveBack re-attaches the devices to FROM in their old slots after the
// attach to TO failed.
func (m *Migration) moveBack(p *Plan, from, to Domain, cause error) error {
	p.Phase = PhaseRollingBck
	if err := m.plans.Save(p); err != nil {
		return fmt.Errorf("%w; and the plan: %w", cause, err)
	}
	var in []int // what a crash left in TO
	for i, d := range p.Devices {
		if d.State == StateInTarget {
			in = append(in, i)
		}
	}
	if len(in) > 0 {
		if err := m.detachUnit(p, to, in); err != nil {
			return fmt.Errorf("%w; and taking the devices out of %s failed: %w", cause, to, err)
		}
		for _, i := range in {
			p.Devices[i].State = StateDetached
			p.event("undo", p.Devices[i].BDF, "detached from %s to go back to %s", to, from)
		}
	}
	if err := m.attachUnits(p, from, "source", false); err != nil {
		return fmt.Errorf("%w; and putting the devices back into %s failed too: %w", cause, from, err)
	}
	p.Phase = PhaseRolledBack
	p.event("rollback", "", "back in %s in the old slots", from)
	if err := m.plans.Save(p); err != nil {
		return fmt.Errorf("%w; and the plan: %w", cause, err)
	}
	return fmt.Errorf("%w; the devices are back in %s in their old slots", cause, from)
}

// heldSpec reports whether the guest holds what the spec names.
func heldSpec(list []xl.DevicePci, spec xl.DevicePci) bool {
	for _, d := range list {
		if d.PciBdf == spec.PciBdf || (spec.AllFuncs() && d.PciBdf.Slot() == spec.PciBdf.Slot()) {
			return true
		}
	}
	return false
}
