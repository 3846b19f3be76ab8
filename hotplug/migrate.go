package hotplug

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Migration takes a guest's passthrough devices out before a live
// migration and puts them back after it, on the target or (after a
// failure) on the source. Every step is recorded in a plan first, so
// each command can be run again after a crash and finishes the job.
//
// It works through Service's Attach and Detach, one guest slot (or one
// same-domain group) at a time.
type Migration struct {
	s        *Service
	plans    FilePlan
	hostname string
	// mu: the plan's devices and events, and its file, while devices
	// are detached or attached at once (parallel.go).
	mu sync.Mutex
}

// Migration is the migration (or move) whose plan is the file at plan.
func (s *Service) Migration(plan string) *Migration {
	return &Migration{s: s, plans: FilePlan{Path: plan}, hostname: s.hostName()}
}

// allDevices lists every host function, to find a device by identity
// when its BDF is not there: a full scan, made only then.
func (m *Migration) allDevices() []*pcibind.Device {
	if m.s.sysfs == nil {
		return m.s.host.Devices
	}
	h, err := m.s.sysfs.Scan()
	if err != nil {
		m.s.log().Warnf("read every host PCI device to match by identity: %v", err)
		return nil
	}
	return h.Devices
}

// ErrNotMigratable refuses a guest Xen 4.17 would not live-migrate even
// without its devices; ErrPlanState a command the plan's phase does not
// allow.
var (
	ErrNotMigratable = errors.New("guest cannot be live-migrated")
	ErrPlanState     = errors.New("the plan is not at that step")
	// ErrPreviewPlan refuses to attach or roll back through a preview
	// (migrate detach --dry-run): it records no device out of its guest.
	ErrPreviewPlan = errors.New("the plan is only a preview")
)

// MigrateResult is what a migrate command leaves behind.
type MigrateResult struct {
	Plan     *Plan
	Domain   Domain
	Warnings []string
}

// MigrateDetachRequest is `xlpt migrate detach`.
type MigrateDetachRequest struct {
	Domain string
	Force  bool          // remove without the guest's consent
	Wait   time.Duration // keep asking a guest that does not answer the eject this long (0: once)
	// DryRun makes every refusal of the detach and writes the plan it
	// would start from, at phase preview, detaching nothing (preview).
	DryRun bool
}

// Detach takes every passthrough device out of the guest, writing the
// plan before the first detach and after each one.
func (m *Migration) Detach(req MigrateDetachRequest) (MigrateResult, error) {
	if req.DryRun {
		return m.preview(req)
	}
	return m.run(xl.DevicePci{}, req.Domain, func() (MigrateResult, error) { return m.detach(req) })
}

// run carries out one migrate command (or pci-move) under the host lock
// for its whole length, journaled: a run that dies leaves a record that
// tells recovery which plan says where the devices are (the plan is the
// command's own record of its steps; each attach and detach in it is
// journaled too).
func (m *Migration) run(spec xl.DevicePci, domain string, cmd func() (MigrateResult, error)) (MigrateResult, error) {
	unlock, err := m.s.begin(spec)
	if err != nil {
		return MigrateResult{}, err
	}
	defer unlock()
	// The plan too, for the command's whole length: another host that
	// shares the file, or a run with another state directory, waits.
	unlockPlan, err := m.plans.lock(m.s.lockTimeout)
	if err != nil {
		return MigrateResult{}, err
	}
	defer unlockPlan()
	rec := &Record{Op: OpMigrate, DomName: domain, Plan: m.plans.String()}
	if err := m.s.journal.Begin(rec); err != nil {
		return MigrateResult{}, err
	}
	res, err := cmd()
	if eerr := m.s.journal.End(rec); err == nil {
		err = eerr
	}
	return res, err
}

func (m *Migration) detach(req MigrateDetachRequest) (MigrateResult, error) {
	var res MigrateResult
	p, err := m.plans.Load()
	if err != nil {
		return res, err
	}
	// A preview (detach --dry-run) recorded nothing out of the guest:
	// replaced, like a finished plan, by the plan made now.
	if p != nil && !p.Phase.Reusable() {
		if err := m.checkPlan(p, "migrate", req.Domain, PhaseDetaching, PhaseDetached); err != nil {
			return res, err
		}
		if err := m.sameHost(p); err != nil {
			return res, err
		}
	} else {
		p = nil
	}
	dom, list, err := m.s.domainDevices(req.Domain)
	res.Domain = dom
	if err != nil {
		return res, err
	}
	if p == nil {
		if p, res.Warnings, err = m.newPlan(dom, list, req.Force); err != nil {
			return res, err
		}
		if err := m.plans.Save(p); err != nil {
			return res, err
		}
	} else {
		p.Force = p.Force || req.Force
		m.settle(p, list, "source")
	}
	res.Plan = p
	if err := m.detachDevices(p, dom, req.Wait); err != nil {
		return res, err
	}
	p.Phase = PhaseDetached
	p.event("detach", "", "every device is out of %s", dom)
	return res, m.plans.Save(p)
}

// detachDevices takes the plan's devices still in the source out of dom:
// an HVM guest's guest slots at once, each slot's functions highest first
// (parallel.go); else one by one, in the plan's order.
func (m *Migration) detachDevices(p *Plan, dom Domain, wait time.Duration) error {
	var idx []int
	for i, d := range p.Devices {
		if d.State == StateInSource {
			idx = append(idx, i)
		}
	}
	parallel := m.s.parallelFor(dom)
	chains := slotChains(parallel, p, idx)
	errs := each(parallel, len(chains), func(c int) error {
		for k, i := range chains[c] {
			if k > 0 {
				if stop, err := m.s.stopAsked(); stop {
					return err
				}
			}
			if err := m.detachOne(p, dom, &p.Devices[i], wait); err != nil {
				return err
			}
		}
		return nil
	})
	err := joinErrors(errs)
	if err == nil {
		return nil
	}
	if p.Kind == "move" {
		return fmt.Errorf("%w (nothing more was moved; the plan %s records each step: run the same pci-move again, with -f to remove without the guest's consent)", err, m.plans)
	}
	return fmt.Errorf("%w (the plan %s records what was detached: run `xlpt migrate rollback --plan %s %s` to put it back, "+
		"or run this again, with --force to remove without the guest's consent)", err, m.plans, m.plans, dom)
}

// slotChains groups plan devices (by index) for detachDevices: one chain
// per guest slot, highest function first, when parallel; else one chain
// in the order given.
func slotChains(parallel bool, p *Plan, idx []int) [][]int {
	devs := make([]xl.DevicePci, len(idx))
	for k, i := range idx {
		devs[k].PciBdf, devs[k].Vdevfn = p.Devices[i].bdf(), p.Devices[i].Vdevfn
	}
	var out [][]int
	for _, chain := range bySlot(parallel, devs) {
		if parallel {
			sort.SliceStable(chain, func(a, b int) bool { return devs[chain[b]].PciBdf.Less(devs[chain[a]].PciBdf) })
		}
		c := make([]int, len(chain))
		for k, j := range chain {
			c[k] = idx[j]
		}
		out = append(out, c)
	}
	return out
}

// locked runs f holding the plan (Migration.mu).
func (m *Migration) locked(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

// save runs f on the plan and writes it, holding it.
func (m *Migration) save(p *Plan, f func()) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
	return m.plans.Save(p)
}

// detachOne removes one function, recording the intent and the outcome.
// It may run beside the detach of other guest slots' functions.
func (m *Migration) detachOne(p *Plan, dom Domain, d *PlanDevice, wait time.Duration) error {
	if err := m.save(p, func() { d.State = StateDetaching }); err != nil {
		return err
	}
	req := DetachRequest{Domain: dom.String(), Device: single(d.bdf()), Force: p.Force}
	deadline := time.Now().Add(wait)
	for {
		_, err := m.s.detachLocked(req)
		if err == nil {
			break
		}
		if errors.Is(err, ErrDetachTimeout) && time.Now().Before(deadline) {
			continue
		}
		if d.interrupted && !req.Force && !errors.Is(err, ErrDetachTimeout) {
			// The killed run had the guest eject it, and QEMU has let
			// it go (libxl's device_del fails); libxl only did not get
			// to release it: that is what the forced remove does.
			m.locked(func() {
				p.event("detach", d.BDF, "the device model no longer has it (%v): finishing libxl's part with a forced remove", err)
			})
			req.Force = true
			continue
		}
		if serr := m.save(p, func() {
			d.State = StateInSource
			p.event("detach", d.BDF, "failed: %v", err)
		}); serr != nil {
			err = fmt.Errorf("%w; and the plan: %w", err, serr)
		}
		return err
	}
	return m.save(p, func() {
		d.State = StateDetached
		p.event("detach", d.BDF, "out of %s (slot %s)", dom, d.GuestSlot)
	})
}

func single(b xl.PciBdf) xl.DevicePci {
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = b, 1
	return d
}

// checkPlan refuses a plan of another kind or domain, or at a phase the
// command cannot continue from.
func (m *Migration) checkPlan(p *Plan, kind, domain string, phases ...Phase) error {
	if p.Kind != kind {
		return fmt.Errorf("%w: %s is a %s plan, not a %s plan", ErrPlan, m.plans, p.Kind, kind)
	}
	if domain != "" && p.Domain != domain {
		return fmt.Errorf("%w: %s is the plan of %s, not of %s", ErrPlan, m.plans, p.Domain, domain)
	}
	for _, ph := range phases {
		if p.Phase == ph {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is at phase %q (%s)", ErrPlanState, m.plans, p.Phase, nextStep(p))
}

// sameHost refuses to act on this host through a plan made on another,
// or whose devices are not this host's devices at their BDFs (a plan
// with one device's identity and another's BDF), before any change.
func (m *Migration) sameHost(p *Plan) error {
	if p.SourceHost != m.hostname {
		return fmt.Errorf("%w: %s was made on %s, and this is %s: the devices go back, or out, on the host that made the plan; run it there",
			ErrPlan, m.plans, p.SourceHost, m.hostname)
	}
	for _, d := range p.Devices {
		id, err := identityOf(m.s.host, d.bdf())
		if err != nil {
			return fmt.Errorf("%w: %s names %s: %w; nothing was changed", ErrPlan, m.plans, d.BDF, err)
		}
		if !id.matches(d.Identity) || (id.PF == nil) != (d.Identity.PF == nil) {
			return fmt.Errorf("%w: %s records %s as %s, but this host's %s is %s: the plan does not describe this host's devices; nothing was changed",
				ErrPlan, m.plans, d.BDF, d.Identity, d.BDF, id)
		}
	}
	return nil
}

// nextStep says which command continues a plan.
func nextStep(p *Plan) string {
	switch p.Phase {
	case PhasePreview:
		return "a preview written by `xlpt migrate detach --dry-run`: nothing was detached; `xlpt migrate check` reads it on the target, " +
			"`xlpt migrate detach` without --dry-run starts the migration and replaces it"
	case PhaseDetaching:
		return "finish it with `xlpt migrate detach`, or undo it with `xlpt migrate rollback`"
	case PhaseDetached:
		return "the devices are out: `xl migrate`, then `xlpt migrate attach` on the target, or `xlpt migrate rollback` here"
	case PhaseAttaching:
		return "finish it with `xlpt migrate attach` on the target"
	case PhaseRollingBck:
		return "finish it with `xlpt migrate rollback`"
	case PhaseMoving:
		return "finish it with the same `xlpt pci-move`"
	}
	return "it is finished"
}

// newPlan refuses a guest that cannot migrate, then records its devices.
func (m *Migration) newPlan(dom Domain, list []xl.DevicePci, force bool) (*Plan, []string, error) {
	cfg, err := m.s.ts.DomainConfig(dom.Domid)
	if err != nil {
		return nil, nil, fmt.Errorf("read the configuration of %s: %w", dom, err)
	}
	dom.Config = cfg
	warnings, err := migratable(dom)
	if err != nil {
		return nil, warnings, err
	}
	if err := m.s.reproducible(dom, list); err != nil {
		return nil, warnings, err
	}
	p := &Plan{Version: PlanVersion, Kind: "migrate", Domain: dom.String(), SourceHost: m.hostname, Force: force, Phase: PhaseDetaching,
		GuestType:   planWord(dom.Info.Type.String(), planGuestTypes),
		Passthrough: planWord(cfg.Passthrough.String(), planPassthroughs), MemoryKiB: dom.Info.CurrentMemKB}
	p.Devices, err = m.describe(list)
	if err != nil {
		return nil, warnings, err
	}
	p.event("preflight", "", "%s (domid %d, %s) can migrate; %d device(s) to detach", dom, dom.Domid, dom.Info.Type, len(p.Devices))
	return p, warnings, nil
}

// planWord is w when it is one of the words a plan may hold (Plan.Check),
// else "" (unknown): a value libxl adds later must not make the plan
// unreadable.
func planWord(w string, words []string) string {
	if slices.Contains(words, w) {
		return w
	}
	return ""
}

// migratable refuses, before anything changes, a guest that Xen 4.17 will
// not live-migrate even once its devices are out, with the xl.cfg fix.
func migratable(dom Domain) ([]string, error) {
	var why []string
	st := dom.Info.State
	switch {
	case dom.Domid == 0:
		why = append(why, "dom0 does not migrate")
	case st.Has(xl.StateDying) || st.Has(xl.StateShutdown):
		why = append(why, fmt.Sprintf("it is %s, not running", st))
	}
	cfg := dom.Config
	if cfg.VnumaNodes > 0 {
		// libxl_dom_save.c: "Cannot save a guest with vNUMA configured".
		why = append(why, fmt.Sprintf("it has %d vNUMA nodes, and libxl 4.17 refuses to save a guest with vNUMA "+
			"(the stream does not carry node information): remove vnuma= from its xl.cfg and recreate it", cfg.VnumaNodes))
	}
	if !dom.IsHVM() && dom.Domid != 0 && pvWithIOMMU(cfg) {
		// Seen on the testbed: "xc: error: Failed to enable logdirty:
		// 95,22,0" with every device out. Xen keeps a PV guest's IOMMU
		// context for its life, and its shadow log-dirty mode (what a
		// live migration of a PV guest needs) refuses a domain with one.
		why = append(why, fmt.Sprintf("it is a PV guest created with passthrough (%s), and Xen cannot turn on "+
			"log-dirty mode for a PV domain with an IOMMU context, with or without devices, so xl migrate fails "+
			"(\"Failed to enable logdirty\"): shut it down and start it on the target instead, "+
			"or make it an HVM guest", cfg.Passthrough))
	}
	if cfg.NoMigrate {
		why = append(why, "it was created with nomigrate=1 (so Xen gave it an invariant TSC that a move to "+
			"another host would break): set nomigrate=0 in its xl.cfg and recreate it")
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("%w: %s: %s; nothing was detached", ErrNotMigratable, dom, strings.Join(why, "; "))
	}
	var warnings []string
	if cfg.Passthrough == xl.PassthroughSharePT {
		warnings = append(warnings, fmt.Sprintf("%s has passthrough=\"share_pt\": the target must offer iommu_hap_pt_share "+
			"(`xl info` virt_caps) or its xl migrate-receive fails to create the guest", dom))
	}
	return warnings, nil
}

// pvWithIOMMU says whether a PV guest got an IOMMU context at creation:
// passthrough set, or left to libxl's default with PCI devices in its
// xl.cfg.
func pvWithIOMMU(cfg xl.DomainConfig) bool {
	switch cfg.Passthrough {
	case xl.PassthroughDisabled:
		return false
	case xl.PassthroughDefault:
		return len(cfg.Pcidevs) > 0
	}
	return true
}

// reproducible refuses a device layout that re-attaching one guest slot
// at a time cannot rebuild: several functions in a guest slot must be
// every function of one physical slot, in their own function numbers; a
// lone function sits at function 0 (what libxl and xlpt give it).
func (s *Service) reproducible(dom Domain, list []xl.DevicePci) error {
	if !dom.IsHVM() {
		return nil
	}
	bySlot := map[uint8][]xl.DevicePci{}
	for _, d := range list {
		bySlot[d.VSlot()] = append(bySlot[d.VSlot()], d)
	}
	for slot, ds := range bySlot {
		if len(ds) == 1 {
			if ds[0].VFunc() != 0 {
				return fmt.Errorf("%w: %s holds %s alone at guest function %02x.%x; xlpt can put a lone function back only at function 0: "+
					"detach it and attach it at %02x.0 first", ErrNotMigratable, dom, ds[0].PciBdf, slot, ds[0].VFunc(), slot)
			}
			continue
		}
		phys := ds[0].PciBdf.Slot()
		for _, d := range ds {
			if d.PciBdf.Slot() != phys || d.VFunc() != d.PciBdf.Func {
				return fmt.Errorf("%w: %s guest slot %02x mixes %s and %s: xlpt puts a multi-function slot back as BB:DD.* with its own function numbers",
					ErrNotMigratable, dom, slot, ds[0].PciBdf, d.PciBdf)
			}
		}
		if n := len(s.host.Functions(phys)); n != len(ds) {
			return fmt.Errorf("%w: %s holds %d of the %d functions of %s in guest slot %02x; xlpt puts a slot back whole (BB:DD.*)",
				ErrNotMigratable, dom, len(ds), n, phys, slot)
		}
	}
	return nil
}

// describe turns libxl's list into plan devices, highest function first
// (the order detach uses: the guest rescans a slot when function 0 goes).
func (m *Migration) describe(list []xl.DevicePci) ([]PlanDevice, error) {
	sort.Slice(list, func(i, j int) bool { return list[j].PciBdf.Less(list[i].PciBdf) })
	var out []PlanDevice
	for _, d := range list {
		id, err := identityOf(m.s.host, d.PciBdf)
		if err != nil {
			return nil, fmt.Errorf("identity of %s: %w", d.PciBdf, err)
		}
		pd := PlanDevice{
			BDF: d.PciBdf.String(), Vdevfn: d.Vdevfn, GuestSlot: fmt.Sprintf("%02x.%x", d.VSlot(), d.VFunc()),
			FuncMask: d.VfuncMask, Identity: id, State: StateInSource,
			Options: PlanOptions{Msitranslate: d.Msitranslate, PowerMgmt: d.PowerMgmt, Permissive: d.Permissive,
				Seize: d.Seize, Name: d.Name},
			Assignable: PlanAssignable{Driver: "pciback"},
		}
		if d.RdmPolicy == xl.RdmPolicyStrict || d.RdmPolicy == xl.RdmPolicyRelaxed {
			pd.Options.RdmPolicy = d.RdmPolicy.String()
		}
		if hd, ok := m.s.host.Device(d.PciBdf); ok && hd.Driver != "" {
			pd.Assignable.Driver = hd.Driver
		}
		if m.s.sysfs != nil {
			if rec, err := m.s.sysfs.LoadRecord(d.PciBdf); err == nil {
				pd.Assignable.OriginalDriver = rec.Driver
			}
		}
		if br, ok := m.s.host.GroupBridge(d.PciBdf); ok && len(m.s.host.Group(d.PciBdf)) > 1 {
			pd.Group = br.String()
		}
		out = append(out, pd)
	}
	return out, nil
}

// settle turns the intents a crash left in the plan into facts, from the
// list of the guest's devices on this host. where is "source" or
// "target": which attaches this host can see.
func (m *Migration) settle(p *Plan, list []xl.DevicePci, where string) {
	held := map[xl.PciBdf]xl.DevicePci{}
	for _, d := range list {
		held[d.PciBdf] = d
	}
	for i := range p.Devices {
		d := &p.Devices[i]
		before := d.State
		switch {
		case d.State == StateDetaching && where == "source":
			d.State = StateDetached
			if _, ok := held[d.bdf()]; ok {
				d.State, d.interrupted = StateInSource, true
			}
		case d.State == StateAttaching && d.AttachTo == where && where == "source":
			d.State = StateDetached
			if _, ok := held[d.bdf()]; ok {
				d.State = StateInSource
			}
		case d.State == StateAttaching && d.AttachTo == where:
			d.State = StateDetached
			if x, ok := held[d.target()]; ok {
				d.State, d.TargetSlot = StateInTarget, fmt.Sprintf("%02x.%x", x.VSlot(), x.VFunc())
			}
		// "detached" while the guest holds it (put back by hand, or a
		// plan write lost): what libxl lists wins, or neither attach nor
		// rollback could ever finish.
		case d.State == StateDetached && where == "source":
			if _, ok := held[d.bdf()]; ok {
				d.State = StateInSource
			}
		case d.State == StateDetached && d.TargetBDF != "":
			if x, ok := held[d.target()]; ok {
				d.State, d.TargetSlot = StateInTarget, fmt.Sprintf("%02x.%x", x.VSlot(), x.VFunc())
			}
		}
		if d.State != before {
			d.AttachTo = ""
			p.event("settle", d.BDF, "was %s when the last run stopped; libxl says it is %s", before, d.State)
		}
	}
}
