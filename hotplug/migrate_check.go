package hotplug

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// The preflight of a live migration, on both hosts, before anything
// moves: `migrate detach --dry-run` on the source makes the detach's
// refusals and writes the plan it would start from (phase preview);
// `migrate check` on the target reads that plan (or a real one) and says
// where attach would put every device, refusing what attach would
// refuse after the guest has moved. Neither changes the host.

// MatchHow says how a plan device's function on this host was found.
type MatchHow string

const (
	MatchMap      MatchHow = "map"      // --map OLD=NEW
	MatchSameBDF  MatchHow = "same_bdf" // the plan's BDF holds a device of its identity here
	MatchIdentity MatchHow = "identity" // by identity among the functions no domain holds
)

// Text is how in words: "map", "same BDF", "identity".
func (h MatchHow) Text() string {
	if h == MatchSameBDF {
		return "same BDF"
	}
	return string(h)
}

// ProblemKind sorts why a plan device (or the guest) cannot go to this
// host, in one snake_case word.
type ProblemKind string

const (
	ProblemNoDevice      ProblemKind = "no_device"       // no free function of its identity here
	ProblemAmbiguous     ProblemKind = "ambiguous"       // several: --map decides
	ProblemMap           ProblemKind = "map"             // its --map target is absent, another model, or taken
	ProblemSplitSlot     ProblemKind = "split_slot"      // the functions of its guest slot land in different slots
	ProblemHeld          ProblemKind = "held_by_domain"  // its target is in a domain here
	ProblemNotAssignable ProblemKind = "not_assignable"  // its target is not assignable, and no --assign
	ProblemHideRefused   ProblemKind = "hide_refused"    // --assign, but dom0 needs its target
	ProblemOwner         ProblemKind = "owner_unknown"   // libxl could not say who holds a function
	ProblemHost          ProblemKind = "host_capability" // this host's Xen cannot run the guest with devices
	ProblemMemory        ProblemKind = "host_memory"     // this host has less memory free than the guest holds, and xl does not balloon dom0
)

// DeviceProblem is why one plan device, or the guest (Device ""), cannot
// go to this host. Its text is Err's, which names the device: attach
// refuses with it as it is, migrate check reports it by Kind too.
type DeviceProblem struct {
	Device string // the plan's BDF
	Kind   ProblemKind
	Err    error
}

func (e *DeviceProblem) Error() string { return e.Err.Error() }
func (e *DeviceProblem) Unwrap() error { return e.Err }

// deviceProblem is a match's refusal of device: ambiguous, or none.
func deviceProblem(device string, err error) *DeviceProblem {
	kind := ProblemNoDevice
	var ae *AmbiguousError
	if errors.As(err, &ae) {
		kind = ProblemAmbiguous
	}
	return &DeviceProblem{Device: device, Kind: kind, Err: err}
}

// ErrWouldRefuse is migrate check's refusal: attach would refuse the
// plan on this host (or its Xen could not run the guest with devices).
var ErrWouldRefuse = errors.New("migrate attach would be refused on this host")

// ErrHostLacks refuses a host whose Xen cannot run the plan's guest as
// it ran on the source (its type, share_pt); ErrNoIOMMU one that cannot
// pass devices through to it.
var ErrHostLacks = errors.New("this host's Xen cannot run the guest")

// preview is `migrate detach --dry-run`: every refusal of the detach,
// then the plan it would start from, written at phase preview. Nothing
// is detached, so neither the host lock (a change's, whose recovery may
// itself change the host) nor a journal record is taken; the plan's own
// lock is, for the write, so that a run on the same file is not raced.
func (m *Migration) preview(req MigrateDetachRequest) (MigrateResult, error) {
	var res MigrateResult
	if err := m.s.needToolstack(); err != nil {
		return res, err
	}
	unlockPlan, err := m.plans.lock(m.s.lockTimeout)
	if err != nil {
		return res, err
	}
	defer unlockPlan()
	old, err := m.plans.Load()
	if err != nil {
		return res, err
	}
	// A plan under way records devices out of their guest: never
	// replaced by a preview (the real detach would continue it).
	if old != nil && !old.Phase.Reusable() {
		return res, fmt.Errorf("%w: %s is at phase %q (%s); a preview would replace the record of a migration under way: give another --plan file",
			ErrPlanState, m.plans, old.Phase, nextStep(old))
	}
	if err := m.s.readHost(); err != nil {
		return res, err
	}
	dom, list, err := m.s.domainDevices(req.Domain)
	res.Domain = dom
	if err != nil {
		return res, err
	}
	p, warnings, err := m.newPlan(dom, list, req.Force)
	res.Warnings = warnings
	if err != nil {
		return res, err
	}
	p.Phase = PhasePreview
	p.event("preview", "", "nothing was detached (migrate detach --dry-run); `xlpt migrate detach --plan %s %s` replaces this preview", m.plans, dom)
	res.Plan = p
	return res, m.plans.Save(p)
}

// MigrateCheckRequest is `xlpt migrate check` on the target.
type MigrateCheckRequest struct {
	Domain string               // "" or the plan's guest
	Map    map[string]xl.PciBdf // plan BDF -> this host's BDF, as attach's --map
	Assign bool                 // as attach's --assign: devices dom0 holds would be made assignable
}

// MigrateCheck is what migrate check found: for every plan device the
// function attach would give it, and every reason attach (or creating
// the guest here) would fail.
type MigrateCheck struct {
	Plan      *Plan  // as read; never written
	Host      string // this host's name
	GuestType string // the plan's, or read from its devices (older plans)
	Targets   []CheckTarget
	Problems  []*DeviceProblem
	Warnings  []string
	Notes     []string
}

// CheckTarget is one plan device and its function on this host.
type CheckTarget struct {
	BDF       string // the plan's
	GuestSlot string
	Target    string   // this host's function, "" when none was found
	How       MatchHow // "" when none was found
	Owner     Owner    // of Target, when found
	Assign    bool     // the attach makes Target assignable first (--assign)
}

// Err is the refusal of a check that found problems: every one named.
func (r MigrateCheck) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return fmt.Errorf("%w: %s (%d problem(s); nothing was changed): %w", ErrWouldRefuse, r.Plan.Domain, len(errs), errors.Join(errs...))
}

// Check reads the plan and, changing nothing, finds every device's
// function on this host as attach would (findTargets), then judges each
// as attach would (assignRule, and pci-assignable-add's refusals under
// --assign), and this host's Xen against the guest (guestNeeds). The
// plan file is not written, nor is the host lock taken: this is a read,
// like `xlpt check`. The error is the refusal, naming every problem.
func (m *Migration) Check(req MigrateCheckRequest) (MigrateCheck, error) {
	res := MigrateCheck{Host: m.hostname}
	if err := m.s.needToolstack(); err != nil {
		return res, err
	}
	p, err := m.plans.Load()
	if err != nil {
		return res, err
	}
	if p == nil {
		return res, fmt.Errorf("%w: no plan at %s (it is written by `xlpt migrate detach`, or its --dry-run)", ErrPlan, m.plans)
	}
	// Before the guest moves: a preview, or a detach under way or done.
	if err := m.checkPlan(p, "migrate", req.Domain, PhasePreview, PhaseDetaching, PhaseDetached); err != nil {
		return res, err
	}
	res.Plan = p
	if err := m.s.readHost(); err != nil {
		return res, err
	}
	for old := range req.Map {
		if !planHas(p, old) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("--map %s: the plan %s has no device %s", old, m.plans, old))
		}
	}
	phys, err := m.s.ts.PhysInfo()
	if err != nil {
		return res, fmt.Errorf("read host capabilities: %w", err)
	}
	res.GuestType, res.Notes = planGuestType(p)
	res.Problems = append(res.Problems, guestNeeds(p, res.GuestType, phys)...)
	if prob, note := m.memoryNeeds(p, phys); prob != nil {
		res.Problems = append(res.Problems, prob)
	} else if note != "" {
		res.Notes = append(res.Notes, note)
	}
	res.Problems = append(res.Problems, m.checkTargets(p, req, &res)...)
	return res, res.Err()
}

// planHas says whether the plan lists the device bdf.
func planHas(p *Plan, bdf string) bool {
	for _, d := range p.Devices {
		if d.BDF == bdf {
			return true
		}
	}
	return false
}

// checkTargets matches every plan device not yet in the target, fills
// res.Targets in the plan's order, and returns what attach would refuse:
// the match's refusals, a split guest slot, and each target's owner.
func (m *Migration) checkTargets(p *Plan, req MigrateCheckRequest, res *MigrateCheck) []*DeviceProblem {
	got, own, errs := m.findTargets(p, req.Map, func(d PlanDevice) bool { return d.State != StateInTarget })
	var problems []*DeviceProblem
	for _, err := range errs {
		var dp *DeviceProblem
		if !errors.As(err, &dp) {
			dp = &DeviceProblem{Kind: ProblemOwner, Err: err}
		}
		problems = append(problems, dp)
	}
	at := map[int]targetMatch{}
	for _, t := range got {
		at[t.index] = t
	}
	// The slot rule on a copy: the plan read is never given targets.
	cp := *p
	cp.Devices = append([]PlanDevice(nil), p.Devices...)
	for i, d := range p.Devices {
		ct := CheckTarget{BDF: d.BDF, GuestSlot: d.GuestSlot}
		if t, ok := at[i]; ok {
			ct.Target, ct.How = t.bdf.String(), t.how
			cp.Devices[i].TargetBDF = ct.Target
			if own != nil {
				var err error
				if ct.Owner, ct.Assign, err = m.targetOwner(p, d, t.bdf, own, req.Assign); err != nil {
					problems = append(problems, ownerProblem(d.BDF, err))
				}
			}
		}
		res.Targets = append(res.Targets, ct)
	}
	if len(got) == len(p.Devices) {
		if err := checkTargetSlots(&cp); err != nil {
			var dp *DeviceProblem
			errors.As(err, &dp)
			problems = append(problems, dp)
		}
	}
	return problems
}

// targetOwner judges the function t a plan device d would go to by
// attach's rule (assignRule), and under --assign by the refusals of the
// hide that attach would make first. On the source host itself (a
// migration to localhost, checked before the detach) the guest's own
// device at its own BDF is free once the detach runs.
func (m *Migration) targetOwner(p *Plan, d PlanDevice, t xl.PciBdf, own *owners, assign bool) (Owner, bool, error) {
	ow, err := own.of(t)
	if err != nil {
		return ow, false, err
	}
	if ow.Kind == OwnedByDomain && ow.DomName == p.Domain && p.SourceHost == m.hostname && t.String() == d.BDF &&
		(d.State == StateInSource || d.State == StateDetaching) {
		return ow, false, nil
	}
	needAssign, err := assignRule(own, t, ow, assign)
	if err != nil || !needAssign {
		return ow, needAssign, err
	}
	var warnings []string // --force is not attach's: nothing is forced, nothing warned
	err = m.s.refuseHide(false, []xl.PciBdf{t}, &warnings, func(b xl.PciBdf) string {
		return "to pass it through all the same, hide it first: xlpt pci-assignable-add --force " + b.String()
	})
	return ow, true, err
}

// ownerProblem sorts a refusal of a target by its owner.
func ownerProblem(device string, err error) *DeviceProblem {
	kind := ProblemOwner
	switch {
	case errors.Is(err, ErrAssignedElsewhere):
		kind = ProblemHeld
	case errors.Is(err, ErrNotAssignable):
		kind = ProblemNotAssignable
	case errors.Is(err, ErrNeedsForce):
		kind = ProblemHideRefused
	}
	return &DeviceProblem{Device: device, Kind: kind, Err: err}
}

// planGuestType is the plan's guest type; a plan an older xlpt wrote
// does not record it, and its devices say: an HVM guest's are in guest
// slots (vdevfn > 0), a PV guest's are not.
func planGuestType(p *Plan) (string, []string) {
	if p.GuestType != "" || len(p.Devices) == 0 {
		return p.GuestType, nil
	}
	t := "pv"
	if p.Devices[0].Vdevfn != 0 {
		t = "hvm"
	}
	return t, []string{fmt.Sprintf("the plan does not record the guest's type (an older xlpt wrote it): taken as %s from its guest slots", t)}
}

// guestNeeds refuses a host whose Xen cannot run the plan's guest with
// its devices, by libxl's physinfo as `xl info` prints its virt_caps:
// hvm_directio is cap_hvm and cap_hvm_directio (an IOMMU Xen uses),
// pv_directio cap_pv and the same. A guest created with share_pt needs
// iommu_hap_pt_share, or xl migrate-receive cannot create it.
func guestNeeds(p *Plan, guestType string, phys xl.PhysInfo) []*DeviceProblem {
	var why []*DeviceProblem
	lacks := func(sentinel error, format string, a ...any) {
		why = append(why, &DeviceProblem{Kind: ProblemHost, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)})
	}
	devices := len(p.Devices) > 0 || p.Passthrough != "" && p.Passthrough != "disabled" && p.Passthrough != "default"
	switch guestType {
	case "hvm", "pvh":
		if !phys.CapHVM {
			lacks(ErrHostLacks, "this host's Xen runs no HVM guests (`xl info` virt_caps has no hvm), and %s is %s", p.Domain, guestType)
		} else if devices && !phys.CapHVMDirectIO {
			lacks(ErrNoIOMMU, "this host's Xen reports no hvm_directio, so it cannot pass devices through to the %s guest %s %s",
				strings.ToUpper(guestType), p.Domain, iommuFix)
		}
	case "pv":
		if !phys.CapPV {
			lacks(ErrHostLacks, "this host's Xen runs no PV guests (`xl info` virt_caps has no pv), and %s is pv", p.Domain)
		} else if devices && !phys.CapHVMDirectIO {
			lacks(ErrNoIOMMU, "this host's Xen reports no pv_directio, so it cannot pass devices through to the PV guest %s %s", p.Domain, iommuFix)
		}
	default: // no type, no devices: what any passthrough needs
		if devices && !phys.CapHVMDirectIO {
			lacks(ErrNoIOMMU, "this host's Xen reports no I/O virtualisation (no hvm_directio or pv_directio) %s", iommuFix)
		}
	}
	if p.Passthrough == "share_pt" && !phys.CapIOMMUHAPPTShare {
		lacks(ErrHostLacks, "%s was created with passthrough=\"share_pt\", and this host's Xen does not offer iommu_hap_pt_share "+
			"(`xl info` virt_caps): xl migrate-receive would fail to create it", p.Domain)
	}
	return why
}
