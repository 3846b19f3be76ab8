package hotplug

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/xlpt/xlpt/internal/undo"

	"github.com/xlpt/xlpt/xl"
)

// AttachRequest is one pci-attach.
type AttachRequest struct {
	Domain string
	// Device is the parsed spec: a BDF (or BB:DD.*, or name=), its
	// options, and in Vdevfn the requested guest slot (0: choose).
	Device  xl.DevicePci
	Group   bool // attach the device's whole same-domain group
	AnySlot bool // allow a slot outside the hot-plug range
	Assign  bool // make devices dom0 still holds assignable first
}

// AttachResult says what was attached, where, and what to beware of.
type AttachResult struct {
	Domain   Domain
	Attached []xl.DevicePci // as libxl lists them afterwards
	Warnings []string
	// Resumed: the attach was an interrupted run's, found finished by
	// this run's recovery; nothing was left to do.
	Resumed bool
}

// step is one function to attach.
type step struct {
	dev    xl.DevicePci
	assign bool // pci-assignable-add it first
}

// Attach checks everything, then attaches function by function, and
// undoes what it did if any step fails.
func (s *Service) Attach(req AttachRequest) (res AttachResult, retErr error) {
	unlock, err := s.begin(req.Device)
	if err != nil {
		return res, err
	}
	defer unlock()
	return s.attachLocked(req)
}

// attachLocked is Attach under the host lock.
func (s *Service) attachLocked(req AttachRequest) (res AttachResult, retErr error) {
	dom, err := s.resolve(req.Domain)
	if err != nil {
		return res, err
	}
	res.Domain = dom
	if done, err := s.attachedByRecovery(dom, req); err != nil || len(done) > 0 {
		res.Attached, res.Resumed = done, len(done) > 0
		return res, err
	}
	if err := s.preflightDomain(&dom); err != nil {
		return res, err
	}
	res.Domain = dom
	steps, warnings, err := s.planAttach(dom, req)
	res.Warnings = warnings
	if err != nil {
		return res, err
	}
	if err := s.refuseAssign(steps, &res.Warnings); err != nil {
		return res, err
	}
	if err := s.refuseLeftovers(dom, stepBdfs(steps)); err != nil {
		return res, err
	}
	s.log().Debugf("attach planned: %d step(s)", len(steps))

	rec, err := s.beginAttach(dom, steps)
	if err != nil {
		return res, err
	}
	s.log().Debug("attach journaled")
	// Act. Undo sits beside do and runs in reverse if a later step fails.
	var u undo.Stack
	defer s.endRecord(rec, &u, &retErr)
	defer u.RunOnError(&retErr, s.log())
	if err := s.attachSteps(&u, rec, dom, steps); err != nil {
		return res, s.explainAttach(&dom, err)
	}

	// A PV guest has no guest slot (pcifront numbers its devices) and
	// libxl's list would only echo the request back, at 70-90 ms right
	// after an add on the testbed: not asked. The one thing libxl adds is
	// libxl__device_pci_setdefault's rdm_policy: an unset one is strict.
	if !dom.IsHVM() {
		for _, st := range steps {
			d := st.dev
			if d.RdmPolicy != xl.RdmPolicyRelaxed {
				d.RdmPolicy = xl.RdmPolicyStrict
			}
			res.Attached = append(res.Attached, d)
		}
		return res, nil
	}
	// Report what libxl placed where: QEMU may have put a function
	// elsewhere than asked (libxl 4.17 moves a lone function to 0).
	list, err := s.ts.PciList(dom.Domid)
	if err != nil {
		return res, fmt.Errorf("list PCI devices of %s after attach: %w", dom, err)
	}
	for _, st := range steps {
		for _, l := range list {
			if l.PciBdf == st.dev.PciBdf {
				res.Attached = append(res.Attached, l)
			}
		}
	}
	return res, nil
}

func stepBdfs(steps []step) []xl.PciBdf {
	out := make([]xl.PciBdf, len(steps))
	for i, st := range steps {
		out[i] = st.dev.PciBdf
	}
	return out
}

// attachedByRecovery is what an interrupted attach to dom, found
// finished by this run's recovery, put there of the requested device
// (as libxl lists it): the request is then already done. Nothing when
// the recovery undid it.
func (s *Service) attachedByRecovery(dom Domain, req AttachRequest) ([]xl.DevicePci, error) {
	w := req.Device
	var want []xl.PciBdf
	for _, rec := range s.settled {
		if rec.Op != OpAttach || rec.Domid != dom.Domid {
			continue
		}
		for _, in := range rec.Devices {
			if w.VfuncMask != 0 && (w.PciBdf == in.BDF || w.AllFuncs() && w.PciBdf.Slot() == in.BDF.Slot()) {
				want = append(want, in.BDF)
			}
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	list, err := s.ts.PciList(dom.Domid)
	if err != nil {
		return nil, fmt.Errorf("list PCI devices of %s: %w", dom, err)
	}
	var out []xl.DevicePci
	for _, b := range want {
		for _, l := range list {
			if l.PciBdf == b {
				out = append(out, l)
			}
		}
	}
	if len(out) != len(want) {
		return nil, nil // undone (all or none): attach as asked
	}
	return out, nil
}

// beginAttach journals the attach: each function, its guest slot, and
// the dom0 driver of those it makes assignable itself.
func (s *Service) beginAttach(dom Domain, steps []step) (*Record, error) {
	if s.journal == nil {
		return nil, nil
	}
	rec := &Record{Op: OpAttach, Domid: dom.Domid, DomName: dom.Name, DomUUID: uuidString(dom.Info), HVM: dom.IsHVM()}
	for _, st := range steps {
		in := Intent{BDF: st.dev.PciBdf, Assign: st.assign, Vdevfn: st.dev.Vdevfn}
		if st.assign {
			in.Driver = s.driverNow(st.dev.PciBdf)
		}
		rec.Devices = append(rec.Devices, in)
	}
	return rec, s.journal.Begin(rec)
}

// refuseAssign applies pci-assignable-add's refusals to the functions an
// attach makes assignable itself (--assign, seize=1): a device dom0 uses
// is not hidden on the way into a guest either (issue 25).
func (s *Service) refuseAssign(steps []step, warnings *[]string) error {
	var targets []xl.PciBdf
	for _, st := range steps {
		if st.assign {
			targets = append(targets, st.dev.PciBdf)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	return s.refuseHide(false, targets, warnings, func(b xl.PciBdf) string {
		return "to pass it through all the same, hide it first: xlpt pci-assignable-add --force " + b.String()
	})
}

// attachSteps makes the steps' functions assignable where asked and
// attaches them, pushing the undo of each. On an HVM guest the adds run at
// once, in two waves: every function but the function 0 of a guest slot
// with several, then those function 0s (parallel.go); else one by one.
func (s *Service) attachSteps(u *undo.Stack, rec *Record, dom Domain, steps []step) error {
	parallel := s.parallelFor(dom)
	for _, wave := range attachWaves(parallel, steps) {
		for _, i := range wave {
			if steps[i].assign {
				if err := s.assignOne(u, rec, steps[i].dev.PciBdf); err != nil {
					return err
				}
			}
		}
		undos := make([]func() error, len(wave))
		errs := each(parallel, len(wave), func(k int) error { return s.addOne(rec, dom, steps[wave[k]].dev, &undos[k]) })
		for k, i := range wave {
			if undos[k] != nil {
				u.Push("detach "+steps[i].dev.PciBdf.String(), undos[k])
			}
		}
		if err := joinErrors(errs); err != nil {
			return err
		}
	}
	return nil
}

// attachWaves orders the steps (by index) into waves whose adds may run
// at once: one step a wave when not parallel; else every step but the
// function 0 of a guest slot with several functions, then those.
func attachWaves(parallel bool, steps []step) [][]int {
	var first, last []int
	perSlot := map[uint8]int{}
	for _, st := range steps {
		perSlot[st.dev.VSlot()]++
	}
	for i, st := range steps {
		if !parallel {
			first = append(first, i)
			continue
		}
		if st.dev.VFunc() == 0 && perSlot[st.dev.VSlot()] > 1 {
			last = append(last, i)
		} else {
			first = append(first, i)
		}
	}
	if !parallel {
		out := make([][]int, len(first))
		for k, i := range first {
			out[k] = []int{i}
		}
		return out
	}
	out := [][]int{first}
	if len(last) > 0 {
		out = append(out, last)
	}
	return out
}

// assignOne makes b assignable (--assign, seize=1) and pushes the undo.
func (s *Service) assignOne(u *undo.Stack, rec *Record, b xl.PciBdf) error {
	a := xl.NewDevicePci()
	a.PciBdf = b
	if err := s.ts.PciAssignableAdd(a, true); err != nil {
		return fmt.Errorf("make %s assignable: %w", b, err)
	}
	u.Push("give back "+b.String(), func() error { return s.ts.PciAssignableRemove(a, true) })
	return s.journal.Step(rec, "assigned "+b.String())
}

// addOne attaches one function; once it is in, *undo takes it out again.
// It may run beside the adds of the other functions of its wave.
func (s *Service) addOne(rec *Record, dom Domain, d xl.DevicePci, undo *func() error) error {
	s.log().WithField("device", d.PciBdf).WithField("vdevfn", fmt.Sprintf("%#x", d.Vdevfn)).Info("attaching")
	err := s.add(rec, dom, d)
	if stale, ok := s.staleBlocker(dom, d, err); ok {
		// Looked for only when libxl trips on a leftover: asking QEMU
		// before every attach cost ~150 ms on the testbed.
		what := "QEMU still has the device from an earlier failed attach"
		if stale != d.PciBdf {
			what = fmt.Sprintf("QEMU still holds the slot with %s from an earlier failed attach", stale)
		}
		s.log().WithField("device", d.PciBdf).Info(what + "; removing it and attaching again")
		if cerr := s.dm.RemoveStale(dom.Domid, stale); cerr != nil {
			return fmt.Errorf("attach %s to %s: clear the device model's leftover %s of an earlier failed attach: %w (libxl: %w)", d.PciBdf, dom, stale, cerr, err)
		}
		err = s.add(rec, dom, d)
	}
	if err != nil {
		err = fmt.Errorf("attach %s to %s: %w", d.PciBdf, dom, err)
		if dom.IsHVM() && s.dm != nil {
			// libxl leaves the device in QEMU; remove it so a retry works.
			if cerr := s.dm.RemoveStale(dom.Domid, d.PciBdf); cerr != nil {
				err = fmt.Errorf("%w; clean-up of the device model: %w", err, cerr)
			}
		}
		return err
	}
	*undo = func() error { return s.ts.PciDestroy(dom.Domid, d) }
	return s.journal.Step(rec, "attached "+d.PciBdf.String())
}

// inUseByPT is QEMU's refusal of a slot another passed-through device
// holds, as libxl relays it; the id is libxl's name for the device.
// duplicateID is its refusal of a device it has already, by that id where
// the message gives it.
var (
	inUseByPT   = regexp.MustCompile(`in use by xen-pci-passthrough,id=pci-pt-([0-9a-f]{2})_([0-9a-f]{2})\.([0-7])`)
	duplicateID = regexp.MustCompile(`Duplicate device ID(?: 'pci-pt-([0-9a-f]{2})_([0-9a-f]{2})\.([0-7])')?`)
)

// parseQdevID is the function of QEMU's id pci-pt-BB_DD.F, matched as
// bus, device and function (segment 0; Dev above 0x1f when malformed).
func parseQdevID(m []string) xl.PciBdf {
	var v [3]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(m[i], 16, 8)
	}
	return xl.PciBdf{Bus: uint8(v[0]), Dev: uint8(v[1]), Func: uint8(v[2])}
}

// staleBlocker names the device model's leftover that made libxl's add
// fail, if that is why. libxl 4.17 leaves a failed HVM attach's device in
// QEMU (by xl or by a run that died): the device itself then trips the
// next add ("Duplicate device ID"), or it holds the slot another device
// wants ("in use by xen-pci-passthrough") while libxl no longer lists it.
// A device libxl does list is a real occupant, never removed here.
func (s *Service) staleBlocker(dom Domain, d xl.DevicePci, err error) (xl.PciBdf, bool) {
	if err == nil || !dom.IsHVM() || s.dm == nil {
		return xl.PciBdf{}, false
	}
	if dup := duplicateID.FindAllStringSubmatch(err.Error(), -1); dup != nil {
		// QEMU names the device; with several adds at once, libxl's
		// error may quote another's too (logSink).
		for _, m := range dup {
			if m[1] == "" || sameFunc(parseQdevID(m[1:]), d.PciBdf) {
				return d.PciBdf, true
			}
		}
	}
	m := inUseByPT.FindStringSubmatch(err.Error())
	if m == nil {
		return xl.PciBdf{}, false
	}
	// QEMU's id has no segment: compared by bus, device and function,
	// a device libxl lists (in any segment) is a real occupant.
	b := parseQdevID(m[1:])
	if sameFunc(b, d.PciBdf) || b.Dev > 0x1f {
		return xl.PciBdf{}, false
	}
	list, lerr := s.ts.PciList(dom.Domid)
	if lerr != nil {
		return xl.PciBdf{}, false
	}
	for _, l := range list {
		if sameFunc(l.PciBdf, b) {
			return xl.PciBdf{}, false
		}
	}
	return b, true
}

// planAttach turns a request into steps, refusing before any change.
func (s *Service) planAttach(dom Domain, req AttachRequest) ([]step, []string, error) {
	var warnings []string
	want, funcs, requested, err := s.attachFuncs(req, &warnings)
	if err != nil {
		return nil, warnings, err
	}
	todo, needAssign, err := s.attachTodo(dom, req, want, funcs, requested)
	if err != nil {
		return nil, warnings, err
	}
	steps, err := s.placeSlots(dom, req, want, todo, needAssign, &warnings)
	return steps, warnings, err
}

// attachFuncs resolves the spec to functions: one, every function of the
// slot, or the group; requested marks those the user named.
func (s *Service) attachFuncs(req AttachRequest, warnings *[]string) (xl.DevicePci, []xl.PciBdf, map[xl.PciBdf]bool, error) {
	want := req.Device
	if want.VfuncMask == 0 { // name=NAME
		b, err := s.nameToBdf(want.Name)
		if err != nil {
			return want, nil, nil, err
		}
		want.PciBdf, want.VfuncMask = b, 1
	}

	// Which functions: one, every function of the slot, or the group.
	var funcs []xl.PciBdf
	if want.AllFuncs() {
		funcs = s.host.Functions(want.PciBdf.Slot())
		if len(funcs) == 0 {
			return want, nil, nil, fmt.Errorf("%w: no functions at %02x:%02x (segment %04x); see `xlpt check`", ErrNoDevice, want.Bus, want.Dev, want.Domain)
		}
	} else {
		if _, ok := s.host.Device(want.PciBdf); !ok {
			return want, nil, nil, fmt.Errorf("%w: %s (see `xlpt check` for the host's devices)", ErrNoDevice, want.PciBdf)
		}
		funcs = []xl.PciBdf{want.PciBdf}
	}
	requested := map[xl.PciBdf]bool{}
	for _, f := range funcs {
		requested[f] = true
	}
	if req.Group {
		grouped := false
		for _, f := range append([]xl.PciBdf(nil), funcs...) {
			for _, m := range s.host.Group(f) {
				grouped = true
				if !contains(funcs, m) {
					funcs = append(funcs, m)
				}
			}
		}
		if !grouped {
			*warnings = append(*warnings, fmt.Sprintf("--group: %s is not behind a PCIe-to-PCI or PCI bridge; it has no same-domain group", want.PciBdf))
		}
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Less(funcs[j]) })
	return want, funcs, requested, nil
}

// attachTodo sorts the functions by owner: those to attach, those to make
// assignable first; anything a guest or dom0 holds is refused.
func (s *Service) attachTodo(dom Domain, req AttachRequest, want xl.DevicePci, funcs []xl.PciBdf, requested map[xl.PciBdf]bool) ([]xl.PciBdf, map[xl.PciBdf]bool, error) {

	own, err := loadOwners(s.ts, s.host)
	if err != nil {
		return nil, nil, err
	}
	var todo []xl.PciBdf
	needAssign := map[xl.PciBdf]bool{}
	for _, f := range funcs {
		ow, err := own.of(f)
		if err != nil {
			return nil, nil, err
		}
		if ow.Kind == OwnedByDomain && ow.Domid == dom.Domid {
			if !requested[f] {
				continue // a group member that is already there
			}
			if err := s.clearHalfRemoved(dom, f); err != nil {
				return nil, nil, err
			}
		} else {
			assign, err := assignRule(own, f, ow, req.Assign || want.Seize)
			if err != nil {
				return nil, nil, err
			}
			needAssign[f] = assign
		}
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return nil, nil, fmt.Errorf("nothing to attach: %s already holds every requested device", dom)
	}
	if err := checkGroup(s.host, own, dom.Domid, dom.String(), todo); err != nil {
		return nil, nil, err
	}
	return todo, needAssign, nil
}

// assignRule is attach's rule for a function it is to give a domain
// that does not hold it (ow its owner): one in another domain is
// refused; an assignable one is taken as it is; with assign (--assign,
// seize=1) any other is made assignable first (assign true); without,
// refused. migrate check applies it to the targets of a plan.
func assignRule(own *owners, f xl.PciBdf, ow Owner, assign bool) (bool, error) {
	assignable := false
	if ow.Kind == OwnedByPciback {
		var err error
		if assignable, err = own.libxlAssignable(f); err != nil {
			return false, err
		}
	}
	switch {
	case ow.Kind == OwnedByDomain:
		return false, fmt.Errorf("%w: %s is held by %s; detach it there first (xlpt pci-detach %d %s)",
			ErrAssignedElsewhere, f, ow, ow.Domid, f)
	case ow.Kind == OwnedByPciback && assignable:
		return false, nil
	case assign:
		return true, nil
	case ow.Kind == OwnedByPciback:
		return false, fmt.Errorf("%w: %s is on pciback but libxl does not list it as assignable "+
			"(a leftover of a pci-attach that died?); see `xlpt check %s`, and repair it with `xlpt recover`", ErrNotAssignable, f, f)
	}
	return false, fmt.Errorf("%w: %s is held by %s; run `xlpt pci-assignable-add %s` first, or add --assign",
		ErrNotAssignable, f, ow, f)
}

// clearHalfRemoved lets an attach proceed for a device libxl still lists
// in dom although the guest's QEMU no longer has it (a detach that timed
// out and finished later, or died): libxl's forced remove clears the
// record, leaving it assignable. A device that is really there is
// already attached.
func (s *Service) clearHalfRemoved(dom Domain, b xl.PciBdf) error {
	already := fmt.Errorf("%s is already attached to %s (see `xlpt pci-list %s`)", b, dom, dom)
	if !dom.IsHVM() || s.dm == nil {
		return already
	}
	if in, err := s.inDeviceModel(dom.Domid, b); err != nil || in {
		return already
	}
	dev := xl.NewDevicePci()
	dev.PciBdf = b
	if err := s.ts.PciDestroy(dom.Domid, dev); err != nil {
		return fmt.Errorf("%s: libxl lists it in %s but its device model no longer has it, and libxl's forced remove failed: %w (see `xlpt recover --dry-run`)", b, dom, err)
	}
	s.log().WithField("device", b).Warnf("libxl listed it in %s but its device model no longer had it (a detach that finished late or died); libxl's forced remove cleared it", dom)
	return nil
}

// placeSlots gives each physical slot a guest slot (HVM) and orders the
// functions, running the device checks on each.
func (s *Service) placeSlots(dom Domain, req AttachRequest, want xl.DevicePci, todo []xl.PciBdf, needAssign map[xl.PciBdf]bool, warnings *[]string) ([]step, error) {

	// Guest slots: one per physical slot; functions keep their numbers
	// when several functions of a slot go together.
	current, err := s.ts.PciList(dom.Domid)
	if err != nil {
		return nil, fmt.Errorf("list PCI devices of %s: %w", dom, err)
	}
	occ := occupants(current)
	bySlot := map[xl.PciBdf][]xl.PciBdf{}
	var slotOrder []xl.PciBdf
	for _, f := range todo {
		if _, ok := bySlot[f.Slot()]; !ok {
			slotOrder = append(slotOrder, f.Slot())
		}
		bySlot[f.Slot()] = append(bySlot[f.Slot()], f)
	}
	// The requested device's slot first: it gets the requested guest slot.
	sort.SliceStable(slotOrder, func(i, j int) bool {
		return slotOrder[i] == want.PciBdf.Slot() && slotOrder[j] != want.PciBdf.Slot()
	})
	if !dom.IsHVM() && want.VSlot() != 0 {
		*warnings = append(*warnings, fmt.Sprintf("%s is a %s guest: PV guests have no virtual slots, slot %x is ignored (pcifront places the device)",
			dom, dom.Info.Type, want.VSlot()))
	}
	var steps []step
	for i, ps := range slotOrder {
		var gslot uint8
		if dom.IsHVM() {
			reqSlot := uint8(0)
			if i == 0 {
				reqSlot = want.VSlot()
			}
			gslot, err = chooseSlot(ps, reqSlot, s.slots, req.AnySlot, occ)
			if err != nil {
				return nil, err
			}
			occ[gslot] = ps
		}
		fs := bySlot[ps]
		// Highest function first, function 0 last: the guest scans the
		// slot when function 0 arrives.
		sort.Slice(fs, func(a, b int) bool { return fs[b].Less(fs[a]) })
		for _, f := range fs {
			d := want
			d.PciBdf, d.VfuncMask, d.Name, d.Seize = f, 1, "", false
			d.Vdevfn = 0
			if dom.IsHVM() {
				gfn := uint8(0) // a lone function is function 0 in the guest, as libxl does
				if len(fs) > 1 {
					gfn = f.Func
				}
				d.Vdevfn = xl.Vdevfn(gslot, gfn)
			}
			w, err := s.runChecks(dom, d)
			*warnings = append(*warnings, w...)
			if err != nil {
				return nil, err
			}
			steps = append(steps, step{dev: d, assign: needAssign[f]})
		}
	}
	return steps, nil
}

func (s *Service) assignableSet() (map[xl.PciBdf]bool, error) {
	list, err := s.ts.PciAssignableList()
	if err != nil {
		return nil, fmt.Errorf("list assignable devices: %w", err)
	}
	set := map[xl.PciBdf]bool{}
	for _, d := range list {
		set[d.PciBdf] = true
	}
	return set, nil
}

func (s *Service) nameToBdf(name string) (xl.PciBdf, error) {
	list, err := s.ts.PciAssignableList()
	if err != nil {
		return xl.PciBdf{}, fmt.Errorf("list assignable devices: %w", err)
	}
	for _, d := range list {
		if d.Name == name {
			return d.PciBdf, nil
		}
	}
	return xl.PciBdf{}, fmt.Errorf("%w: no assignable device is named %q (see `xlpt pci-assignable-list -n`)", ErrNotAssignable, name)
}

func contains(bs []xl.PciBdf, b xl.PciBdf) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

// isTimeout tells a guest that did not answer from other failures.
func isTimeout(err error) bool {
	return errors.Is(err, xl.ErrTimedOut) || errors.Is(err, xl.ErrGuestTimedOut)
}

// Xen 4.8-4.20 race: the first assignment of a device with MSI-X to an
// HVM domain registers the domain's MSI-X table handler
// (msixtbl_init, xen/arch/x86/hvm/vmsi.c) by counting the new I/O handler
// in before filling it in (hvm_next_io_handler), with no lock against the
// domain's own vCPUs; a port I/O of the guest that Xen looks up in that
// window calls through a NULL pointer and the hypervisor panics. libxl's
// add has QEMU announce the hot-plug (the guest then reads QEMU's ACPI
// hot-plug ports) before it asks Xen to assign the device, so a running
// guest walks the handlers exactly then. Seen on the Xen 4.20 testbed
// after migrate + re-attach (docs/xen-msix-hotplug-race.md). xlpt pauses
// the guest around libxl's add of such a device: QEMU answers libxl
// without the guest, and the guest sees the hot-plug once it runs again,
// after the assignment. A guest already paused (by its operator) runs no
// port I/O and is left as it is. The record says "pausing" before each
// pause and "unpaused" after it, so that recovery ends the pause of a run
// killed in between, if the guest is still paused.

const (
	stepPausing  = "pausing"
	stepUnpaused = "unpaused"
)

// add is libxl's add of d to dom, with the guest paused around it when it
// needs a pause (pausedAdd): only around the add, since the device
// model's clean-up of a leftover (RemoveStale) needs the guest running to
// acknowledge the eject.
func (s *Service) add(rec *Record, dom Domain, d xl.DevicePci) (err error) {
	if !s.pausedAdd(dom, d.PciBdf) {
		return s.ts.PciAdd(dom.Domid, d)
	}
	if err := s.journal.Step(rec, stepPausing); err != nil {
		return err
	}
	if err := s.ts.DomainPause(dom.Domid); err != nil {
		return fmt.Errorf("pause %s for the attach (Xen's MSI-X hot-plug race): %w", dom, err)
	}
	s.log().WithField("domain", dom.Name).Debug("guest paused for libxl's add (an MSI-X device: Xen's hot-plug race)")
	defer func() {
		uerr := s.ts.DomainUnpause(dom.Domid)
		if uerr == nil {
			uerr = s.journal.Step(rec, stepUnpaused)
		}
		if uerr != nil {
			err = errors.Join(err, fmt.Errorf("unpause %s after libxl's add: %w; run `xl unpause %s`", dom, uerr, dom.Name))
		}
	}()
	return s.ts.PciAdd(dom.Domid, d)
}

// pausedAdd says whether adding b to dom needs the guest paused: a
// running HVM guest and a function with MSI-X.
func (s *Service) pausedAdd(dom Domain, b xl.PciBdf) bool {
	if !dom.IsHVM() || s.host == nil || dom.Info.State.Has(xl.StatePaused) {
		return false
	}
	d, ok := s.host.Device(b)
	return ok && d.Caps.MSIX
}
