package hotplug

import (
	"errors"
	"fmt"
	"sort"

	"github.com/xlpt/xlpt/xl"
)

// MigrateAttachRequest is `xlpt migrate attach` on the target.
type MigrateAttachRequest struct {
	Domain string
	Map    map[string]xl.PciBdf // plan BDF -> this host's BDF
	Assign bool                 // make devices dom0 holds assignable first
}

// Attach puts the plan's devices into the migrated guest, each found by
// BDF or identity, in its old guest slot with its old options. All or
// none: a failure detaches what this run attached.
func (m *Migration) Attach(req MigrateAttachRequest) (MigrateResult, error) {
	return m.run(xl.DevicePci{}, req.Domain, func() (MigrateResult, error) { return m.attach(req) })
}

func (m *Migration) attach(req MigrateAttachRequest) (MigrateResult, error) {
	var res MigrateResult
	p, dom, list, err := m.open(req.Domain, PhaseDetached, PhaseAttaching, PhaseAttached)
	res.Plan, res.Domain = p, dom
	if err != nil {
		return res, err
	}
	m.settle(p, list, "target")
	for _, d := range p.Devices {
		if d.State == StateInSource || d.State == StateDetaching || (d.State == StateAttaching && d.AttachTo == "source") {
			return res, fmt.Errorf("%w: %s is still %s on the source per %s: finish `xlpt migrate detach` there first",
				ErrPlanState, d.BDF, d.State, m.plans)
		}
	}
	if err := m.matchTargets(p, req.Map); err != nil {
		return res, err
	}
	p.Phase = PhaseAttaching
	if err := m.plans.Save(p); err != nil {
		return res, err
	}
	if err := m.attachUnits(p, dom, "target", req.Assign); err != nil {
		return res, err
	}
	p.Phase = PhaseAttached
	p.event("attach", "", "every device is in %s on %s", dom, m.hostname)
	return res, m.plans.Save(p)
}

// Rollback puts the devices back into the guest on the source, in their
// old slots, after a failed migration.
func (m *Migration) Rollback(domain string) (MigrateResult, error) {
	return m.run(xl.DevicePci{}, domain, func() (MigrateResult, error) { return m.rollback(domain) })
}

func (m *Migration) rollback(domain string) (MigrateResult, error) {
	var res MigrateResult
	// Attaching: an all-or-none attach on the target failed and undid
	// itself; on the one host (or once the guest is back) it rolls back.
	p, dom, list, err := m.open(domain, PhaseDetaching, PhaseDetached, PhaseAttaching, PhaseRollingBck, PhaseRolledBack)
	res.Plan, res.Domain = p, dom
	if err != nil {
		return res, err
	}
	if err := m.sameHost(p); err != nil {
		return res, err
	}
	m.settle(p, list, "source")
	for i := range p.Devices {
		d := &p.Devices[i]
		if d.State == StateInTarget || d.State == StateAttaching {
			return res, fmt.Errorf("%w: %s is %s on the target per %s; roll back there with the undo of `xlpt migrate attach`, not here",
				ErrPlanState, d.BDF, d.State, m.plans)
		}
		d.TargetBDF = d.BDF
	}
	p.Phase = PhaseRollingBck
	if err := m.plans.Save(p); err != nil {
		return res, err
	}
	if err := m.attachUnits(p, dom, "source", false); err != nil {
		return res, err
	}
	p.Phase = PhaseRolledBack
	p.event("rollback", "", "every device is back in %s", dom)
	return res, m.plans.Save(p)
}

// open loads a plan that must exist and be at one of phases, and finds
// its guest on this host.
func (m *Migration) open(domain string, phases ...Phase) (*Plan, Domain, []xl.DevicePci, error) {
	p, err := m.plans.Load()
	if err != nil {
		return nil, Domain{}, nil, err
	}
	if p == nil {
		return nil, Domain{}, nil, fmt.Errorf("%w: no plan at %s (it is written by `xlpt migrate detach`)", ErrPlan, m.plans)
	}
	if p.Phase == PhasePreview {
		return p, Domain{}, nil, fmt.Errorf("%w: %s was written by `xlpt migrate detach --dry-run`, and nothing was detached from %s, "+
			"so there is nothing to put back; run `xlpt migrate detach --plan %s %s` on %s first (it replaces the preview)",
			ErrPreviewPlan, m.plans, p.Domain, m.plans, p.Domain, p.SourceHost)
	}
	if err := m.checkPlan(p, "migrate", domain, phases...); err != nil {
		return p, Domain{}, nil, err
	}
	dom, list, err := m.s.domainDevices(domain)
	return p, dom, list, err
}

// matchTargets finds this host's function for every device still to
// attach (matcher: --map and same BDF first, then identity, the
// assignable functions first), refusing before any change when one is
// missing or ambiguous, naming every such device at once.
func (m *Migration) matchTargets(p *Plan, mapping map[string]xl.PciBdf) error {
	got, _, errs := m.findTargets(p, mapping, func(d PlanDevice) bool { return d.State == StateDetached })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nothing attached: %w", err)
	}
	// Recorded only once every device has its target.
	for _, t := range got {
		p.Devices[t.index].TargetBDF = t.bdf.String()
	}
	if err := checkTargetSlots(p); err != nil {
		return fmt.Errorf("nothing attached: %w", err)
	}
	return nil
}

// targetMatch is the function of this host a plan device goes to.
type targetMatch struct {
	index int // into the plan's devices
	bdf   xl.PciBdf
	how   MatchHow
}

// findTargets matches the plan devices todo selects, changing nothing
// (not the plan either): attach records the targets, migrate check only
// reports them. A device in the target already keeps its place. The
// errors name every device without a single match, and a failure to ask
// libxl who holds a function; owners is what libxl answered, for the
// caller's own questions.
func (m *Migration) findTargets(p *Plan, mapping map[string]xl.PciBdf, todo func(PlanDevice) bool) ([]targetMatch, *owners, []error) {
	own, err := loadOwners(m.s.ts, m.s.host)
	if err != nil {
		return nil, nil, []error{err}
	}
	var ownErr error
	owner := func(b xl.PciBdf) (Owner, bool) {
		ow, err := own.of(b)
		if err != nil && ownErr == nil {
			ownErr = err
		}
		return ow, err == nil
	}
	mt := &matcher{host: m.s.host, mapping: mapping, taken: map[xl.PciBdf]bool{}, all: m.allDevices(),
		free: func(b xl.PciBdf) bool {
			ow, ok := owner(b)
			return ok && ow.Kind != OwnedByDomain
		},
		// libxl's assignable list: on pciback, in no domain.
		assignable: func(b xl.PciBdf) bool {
			ow, ok := owner(b)
			return ok && ow.Kind == OwnedByPciback
		}}
	var idx []int
	var devs []PlanDevice
	for i, d := range p.Devices {
		switch {
		case d.State == StateInTarget:
			mt.taken[d.target()] = true
		case todo(d):
			idx, devs = append(idx, i), append(devs, d)
		}
	}
	got, how, errs := mt.matchHow(devs)
	if ownErr != nil {
		errs = append(errs, ownErr)
	}
	var out []targetMatch
	for k, i := range idx {
		if b, ok := got[k]; ok {
			out = append(out, targetMatch{index: i, bdf: b, how: how[k]})
		}
	}
	return out, own, errs
}

// checkTargetSlots refuses targets that split a guest slot: its
// functions must land in one physical slot, each in its own function
// number, since the slot goes back as BB:DD.*.
func checkTargetSlots(p *Plan) error {
	for _, u := range units(p) {
		if len(u) < 2 || p.Devices[u[0]].Group != "" {
			continue
		}
		first := p.Devices[u[0]].target()
		for _, i := range u {
			d := p.Devices[i]
			if t := d.target(); t.Slot() != first.Slot() || t.Func != d.bdf().Func {
				return &DeviceProblem{Device: d.BDF, Kind: ProblemSplitSlot, Err: fmt.Errorf(
					"guest slot %s: %s would go to %s, but the other functions of its slot to %s; map the whole slot with --map",
					d.GuestSlot, d.BDF, t, first.Slot())}
			}
		}
	}
	return nil
}

// units groups plan devices (by index) into what one Attach call puts
// back: a same-domain group, or the functions of one guest slot.
func units(p *Plan) [][]int {
	key := func(d PlanDevice) string {
		if d.Group != "" {
			return "group " + d.Group
		}
		if d.Vdevfn == 0 {
			return "dev " + d.BDF // PV: no slots
		}
		return fmt.Sprintf("slot %02x", d.Vdevfn>>3)
	}
	idx := map[string]int{}
	var out [][]int
	for i, d := range p.Devices {
		k := key(d)
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}

// attachUnits attaches every unit not yet in the guest, an HVM guest's
// at once (parallel.go); on a failure it detaches the units this run
// attached, records that, and returns the failures. where is "target"
// (final state in_target) or "source".
func (m *Migration) attachUnits(p *Plan, dom Domain, where string, assign bool) (retErr error) {
	final := StateInTarget
	if where == "source" {
		final = StateInSource
	}
	var done [][]int
	defer func() {
		if retErr != nil {
			retErr = m.undoUnits(p, dom, done, retErr)
		}
	}()
	var todo [][]int
	for _, u := range units(p) {
		if !allIn(p, u, final) {
			todo = append(todo, u)
		}
	}
	ok := make([]bool, len(todo))
	parallel := m.s.parallelFor(dom)
	errs := each(parallel, len(todo), func(k int) error {
		err := m.attachOneUnit(p, dom, todo[k], where, final, assign)
		ok[k] = err == nil
		return err
	})
	for k, u := range todo {
		if ok[k] {
			done = append(done, u)
		}
	}
	return joinErrors(errs)
}

// attachOneUnit puts one unit back and records it in the plan. It may
// run beside the attach of other units.
func (m *Migration) attachOneUnit(p *Plan, dom Domain, u []int, where string, final DeviceState, assign bool) error {
	// A unit half in the guest (a crash inside the attach) is taken
	// out and attached whole.
	if err := m.detachPartial(p, dom, u, final); err != nil {
		return err
	}
	if err := m.save(p, func() {
		for _, i := range u {
			p.Devices[i].State, p.Devices[i].AttachTo = StateAttaching, where
		}
	}); err != nil {
		return err
	}
	err := m.attachUnit(p, dom, u, assign)
	m.locked(func() {
		for _, i := range u {
			p.Devices[i].AttachTo = ""
			p.Devices[i].State = StateDetached
			if err == nil {
				p.Devices[i].State = final
				if final == StateInTarget {
					p.Devices[i].TargetSlot = p.Devices[i].GuestSlot // checked by attachUnit
				}
				p.event("attach", p.Devices[i].BDF, "in %s at %s, guest slot %s (%s)", dom, p.Devices[i].TargetBDF, p.Devices[i].GuestSlot, where)
			}
		}
		if err != nil {
			p.event("attach", p.Devices[u[0]].BDF, "failed: %v", err)
		}
	})
	if err != nil {
		return err
	}
	return m.save(p, func() {})
}

func allIn(p *Plan, u []int, st DeviceState) bool {
	for _, i := range u {
		if p.Devices[i].State != st {
			return false
		}
	}
	return true
}

// attachUnit makes the one Attach call that puts a unit back, then checks
// that every function is in its old guest slot.
func (m *Migration) attachUnit(p *Plan, dom Domain, u []int, assign bool) error {
	first := p.Devices[u[0]]
	req := AttachRequest{Domain: dom.String(), Device: first.devicePci(first.target()), AnySlot: true, Assign: assign}
	switch {
	case len(u) > 1 && first.Group != "":
		req.Group = true
	case len(u) > 1:
		req.Device.PciBdf = first.target().Slot()
		req.Device.VfuncMask = xl.FuncAll
		req.Device.Vdevfn = first.Vdevfn &^ 7
	}
	if _, err := m.s.attachLocked(req); err != nil {
		return err
	}
	if !dom.IsHVM() {
		return nil
	}
	list, err := m.s.ts.PciList(dom.Domid)
	if err != nil {
		return fmt.Errorf("list PCI devices of %s: %w", dom, err)
	}
	at := map[xl.PciBdf]uint32{}
	for _, d := range list {
		at[d.PciBdf] = d.Vdevfn
	}
	for _, i := range u {
		d := p.Devices[i]
		got, ok := at[d.target()]
		if !ok || got != d.Vdevfn {
			err := fmt.Errorf("%s went to guest slot %02x.%x, not its old %s", d.target(), got>>3, got&7, d.GuestSlot)
			// This call attached the whole unit: take it out again.
			return errors.Join(err, m.detachUnit(p, dom, u))
		}
	}
	return nil
}

// undoUnits detaches the units this run attached after a failure.
func (m *Migration) undoUnits(p *Plan, dom Domain, done [][]int, cause error) error {
	errs := []error{cause}
	for k := len(done) - 1; k >= 0; k-- {
		if err := m.detachUnit(p, dom, done[k]); err != nil {
			errs = append(errs, fmt.Errorf("undo: %w", err))
			continue
		}
		for _, i := range done[k] {
			p.Devices[i].State = StateDetached
			p.event("undo", p.Devices[i].BDF, "detached again from %s: the run failed", dom)
		}
	}
	if err := m.plans.Save(p); err != nil {
		errs = append(errs, err)
	}
	return fmt.Errorf("all or none: %w (the plan %s says where each device is)", errors.Join(errs...), m.plans)
}

// detachUnit removes a unit's functions from the guest, highest first; a
// guest that does not answer the eject of a device it just got is forced.
func (m *Migration) detachUnit(p *Plan, dom Domain, u []int) error {
	bs := make([]xl.PciBdf, 0, len(u))
	for _, i := range u {
		bs = append(bs, p.Devices[i].target())
	}
	sort.Slice(bs, func(i, j int) bool { return bs[j].Less(bs[i]) })
	list, err := m.s.ts.PciList(dom.Domid)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range bs {
		if !listed(list, b) {
			continue
		}
		_, err := m.s.detachLocked(DetachRequest{Domain: dom.String(), Device: single(b)})
		if errors.Is(err, ErrDetachTimeout) {
			_, err = m.s.detachLocked(DetachRequest{Domain: dom.String(), Device: single(b), Force: true})
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// detachPartial takes out the functions of a unit that are in the guest
// while others are not.
func (m *Migration) detachPartial(p *Plan, dom Domain, u []int, final DeviceState) error {
	partial := false
	for _, i := range u {
		partial = partial || p.Devices[i].State == final
	}
	if !partial {
		return nil
	}
	if err := m.detachUnit(p, dom, u); err != nil {
		return fmt.Errorf("take out the half-attached guest slot %s to attach it whole: %w", p.Devices[u[0]].GuestSlot, err)
	}
	return m.save(p, func() {
		for _, i := range u {
			p.Devices[i].State = StateDetached
			p.event("settle", p.Devices[i].BDF, "the unit was half attached; detached to attach it whole")
		}
	})
}

func listed(list []xl.DevicePci, b xl.PciBdf) bool {
	for _, d := range list {
		if d.PciBdf == b {
			return true
		}
	}
	return false
}
