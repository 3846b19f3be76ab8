package hotplug

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xlpt/xlpt/internal/undo"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Repair is one inconsistency recovery met and what it did (or, dry,
// would do) about it.
type Repair struct {
	Device  xl.PciBdf `json:"bdf"`
	Record  string    `json:"record,omitempty"` // the operation that died, "" if none of xlpt's
	Problem string    `json:"problem"`
	Action  string    `json:"action"`
	Err     string    `json:"error,omitempty"`
}

// RecoverReport is what a recovery pass found and did.
type RecoverReport struct {
	Records []string `json:"records"` // the intent records found
	Repairs []Repair `json:"repairs"`
	DryRun  bool     `json:"dry_run"`
	// settled are the records of dead runs this pass settled (none when
	// dry): a command can find its own work among them, done.
	settled []*Record
}

// ErrRecovery says a device could not be brought to a consistent state.
var ErrRecovery = errors.New("recovery left a device inconsistent")

// Recover takes the host lock and reconciles every intent record a dead
// run left, then every inconsistency libxl, QEMU or a killed xl left on
// its own. dryRun only reports.
func (s *Service) Recover(dryRun bool) (RecoverReport, error) {
	if _, err := s.sysfsOnly(); err != nil {
		return RecoverReport{}, err
	}
	unlock, err := s.lock()
	if err != nil {
		return RecoverReport{}, err
	}
	defer unlock()
	if err := s.readHost(); err != nil {
		return RecoverReport{}, err
	}
	return s.recoverLocked(dryRun, true)
}

// Inconsistencies reports, without changing anything, the devices in a
// state no finished operation leaves (for `xlpt check`).
func (s *Service) Inconsistencies() ([]Repair, error) {
	r := &recovery{s: s, dry: true}
	if err := r.sweep(); err != nil {
		return nil, err
	}
	var out []Repair
	for _, f := range r.rep.Repairs {
		if !f.Nothing() {
			out = append(out, f)
		}
	}
	return out, nil
}

// Nothing says the device was found consistent and left alone.
func (f Repair) Nothing() bool { return strings.HasPrefix(f.Action, "none") && f.Err == "" }

// Advice says the device was left alone for the operator to decide.
func (f Repair) Advice() bool { return strings.HasPrefix(f.Action, "left alone") }

// Outcome says in one word what became of the device: consistent,
// left_alone, planned (a dry run), repaired or failed.
func (f Repair) Outcome(dryRun bool) string {
	switch {
	case f.Err != "":
		return "failed"
	case f.Nothing():
		return "consistent"
	case f.Advice():
		return "left_alone"
	case dryRun:
		return "planned"
	}
	return "repaired"
}

// recoverLocked settles the intent records; sweep also looks for
// inconsistencies no record explains (xlpt recover does; the implicit
// recovery at the start of a change does not: on real Xen the sweep's
// reading of a failed xl pci-attach's leftovers has not been validated,
// and it must not block an attach that would clear them itself).
func (s *Service) recoverLocked(dryRun, sweep bool) (RecoverReport, error) {
	r := &recovery{s: s, dry: dryRun}
	r.rep.DryRun = dryRun
	r.rep.Records = []string{}
	recs, bad, err := s.journal.Open()
	if err != nil {
		return r.rep, err
	}
	// What cannot be read as a record is moved aside, with a message: a
	// wall that stops every command (and recover) helps nobody.
	for _, u := range bad {
		r.rec = filepath.Base(u.Path)
		err := r.setAside(u.Path, nil, fmt.Sprintf("the intent record %s cannot be acted on: %v", u.Path, u.Err))
		r.rec = ""
		if err != nil {
			return r.rep, err
		}
	}
	// Newest first. Under the lock every record left is of one run that
	// died (each run settles those before it), and a newer record is an
	// operation inside an older one (a VF's hide inside sriov enable,
	// inside restore): the inner one finishes its device first, then the
	// outer one, run again, finds it done.
	// The guests the records place devices in: a QEMU id is read with
	// their segment (placeDM).
	s.recordPlaces = map[uint32][]xl.PciBdf{}
	defer func() { s.recordPlaces = nil }()
	for _, rec := range recs {
		if rec.Op == OpAttach || rec.Op == OpDetach {
			s.recordPlaces[rec.Domid] = append(s.recordPlaces[rec.Domid], recordDevices(rec)...)
		}
	}
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		r.rep.Records = append(r.rep.Records, rec.String())
		switch foreign, err := r.foreign(rec); {
		case err != nil:
			return r.rep, err
		case foreign:
			continue
		}
		if s.liveRun(rec) {
			r.rec = rec.String()
			for _, b := range recordDevices(rec) {
				r.note(b, fmt.Sprintf("pid %d (%s) is still running it", rec.PID, rec.Cmdline),
					"left alone: its run is alive; the record is its own")
			}
			r.rec = ""
			if !sweep {
				return r.rep, fmt.Errorf("%w: pid %d (%s) is still running %s, although the host lock was free "+
					"(another state directory, or its lock file replaced?): wait for it to end, or stop it, then run this again",
					ErrRunning, rec.PID, rec.Cmdline, rec)
			}
			continue
		}
		if err := r.settle(rec); err != nil {
			return r.rep, err
		}
		if !dryRun {
			if err := s.journal.End(rec); err != nil {
				return r.rep, err
			}
			r.rep.settled = append(r.rep.settled, rec)
		}
	}
	if sweep && s.ts != nil {
		if err := r.sweep(); err != nil {
			return r.rep, err
		}
	}
	if !dryRun && len(r.rep.Repairs) > 0 && s.sysfs != nil {
		// The whole host: the records finished may name devices the
		// request does not.
		h, err := s.sysfs.Scan()
		if err != nil {
			return r.rep, fmt.Errorf("read the host again after recovery: %w", err)
		}
		s.host = h
	}
	for _, f := range r.rep.Repairs {
		if f.Err != "" {
			return r.rep, fmt.Errorf("%w: %s: %s: %s", ErrRecovery, f.Device, f.Action, f.Err)
		}
	}
	return r.rep, nil
}

// foreign says whether rec belongs to another world (another boot, a
// guest that is gone though its domid is taken): it is then reported and
// set aside, never acted on.
func (r *recovery) foreign(rec *Record) (bool, error) {
	why := r.s.otherBoot(rec)
	if why == "" && r.s.ts != nil && (rec.Op == OpAttach || rec.Op == OpDetach) {
		t, err := r.s.readTruth()
		if err != nil {
			return false, err
		}
		why = t.otherGuest(rec)
	}
	if why == "" {
		return false, nil
	}
	r.rec = rec.String()
	defer func() { r.rec = "" }()
	return true, r.setAside(rec.path, recordDevices(rec), "the record of "+rec.String()+" is not of this world: "+why)
}

// truth is what the toolstack says about every device, read at once.
type truth struct {
	listed     map[xl.PciBdf]uint32 // libxl's per-domain lists
	hvm        map[uint32]bool
	names      map[uint32]string
	uuids      map[uint32]string      // "" for none
	dm         map[xl.PciBdf][]uint32 // QEMUs that have the device
	xs         map[xl.PciBdf]xl.PciXsEntry
	assignable map[xl.PciBdf]bool
	dmKnown    bool               // the device models were asked
	xen        map[xl.PciBdf]bool // listed devices Xen gives to a guest
	// unplaced are devices a device model has that nothing places in
	// its guest: QEMU's word alone, never acted on.
	unplaced []dmDevice
}

// dmDevice is a device a guest's device model says it has, as QEMU's id
// names it (bus, device and function: libxl's ids carry no segment).
type dmDevice struct {
	domid uint32
	id    xl.PciBdf
}

// sameFunc compares bus, device and function, the part of a BDF a QEMU
// id (pci-pt-BB_DD.F) carries.
func sameFunc(a, b xl.PciBdf) bool { return a.Bus == b.Bus && a.Dev == b.Dev && a.Func == b.Func }

// placeDM reads QEMU's id in domid's device model as the device libxl
// (its list of domid, its /libxl/pci record naming domid) or an open
// intent record places in that guest, with that device's segment.
func (s *Service) placeDM(domid uint32, id xl.PciBdf, listed []xl.DevicePci, xs []xl.PciXsEntry) (xl.PciBdf, bool) {
	for _, x := range listed {
		if sameFunc(x.PciBdf, id) {
			return x.PciBdf, true
		}
	}
	for _, e := range xs {
		if e.HasDomid && e.Domid == domid && sameFunc(e.BDF, id) {
			return e.BDF, true
		}
	}
	for _, b := range s.recordPlaces[domid] {
		if sameFunc(b, id) {
			return b, true
		}
	}
	return xl.PciBdf{}, false
}

func (s *Service) readTruth() (*truth, error) {
	t := &truth{listed: map[xl.PciBdf]uint32{}, hvm: map[uint32]bool{}, names: map[uint32]string{}, uuids: map[uint32]string{},
		dm: map[xl.PciBdf][]uint32{}, xs: map[xl.PciBdf]xl.PciXsEntry{}, dmKnown: s.dm != nil, xen: map[xl.PciBdf]bool{}}
	doms, err := s.ts.ListDomains()
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	es, err := s.ts.PciXsEntries()
	if err != nil {
		return nil, fmt.Errorf("read libxl's device records: %w", err)
	}
	for _, e := range es {
		t.xs[e.BDF] = e
	}
	for _, d := range doms {
		if d.Domid == 0 {
			continue
		}
		t.names[d.Domid], t.hvm[d.Domid], t.uuids[d.Domid] = d.Name, d.Type == xl.DomainTypeHVM, uuidString(d)
		devs, err := s.ts.PciList(d.Domid)
		if err != nil {
			return nil, fmt.Errorf("list PCI devices of domain %d: %w", d.Domid, err)
		}
		for _, x := range devs {
			t.listed[x.PciBdf] = d.Domid
			if t.xen[x.PciBdf], err = s.ts.PciXenAssigned(x.PciBdf); err != nil {
				return nil, fmt.Errorf("ask Xen about %s: %w", x.PciBdf, err)
			}
		}
		if t.hvm[d.Domid] && s.dm != nil {
			ids, err := s.dm.Devices(d.Domid)
			if err != nil {
				return nil, fmt.Errorf("list the devices in the device model of domain %d: %w", d.Domid, err)
			}
			for _, id := range ids {
				b, ok := s.placeDM(d.Domid, id, devs, es)
				if !ok {
					t.unplaced = append(t.unplaced, dmDevice{d.Domid, id})
					continue
				}
				t.dm[b] = append(t.dm[b], d.Domid)
			}
		}
	}
	if t.assignable, err = s.assignableSet(); err != nil {
		return nil, err
	}
	return t, nil
}

// attached says whether b is consistently in domid: listed by libxl,
// given to a guest by Xen, and in its QEMU for an HVM guest.
func (t *truth) attached(b xl.PciBdf, domid uint32) bool {
	d, ok := t.listed[b]
	if !ok || d != domid || !t.xen[b] {
		return false
	}
	return !t.hvm[domid] || !t.dmKnown || containsDom(t.dm[b], domid)
}

func containsDom(ds []uint32, d uint32) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

type recovery struct {
	s   *Service
	dry bool
	rep RecoverReport
	rec string // the record being settled
	// evict: an attach being undone takes even consistently attached
	// functions out of evictDom (all or none).
	evict    bool
	evictDom uint32
	// quarantine: a hide being finished asks libxl to quarantine even a
	// device libxl lists as assignable.
	quarantine bool
}

// settle finishes or undoes one dead operation, device by device:
//   - hide: forward, to assignable with the original driver remembered;
//   - give: forward, to the original dom0 driver;
//   - attach: all or none, as the attach itself: if every function is
//     consistently in the guest it stays, else every one becomes
//     assignable again (and goes back to its driver if the attach made
//     it assignable);
//   - detach: a function consistently in the guest stays (the guest was
//     not asked yet, a retry detaches it); anything less becomes
//     assignable.
func (r *recovery) settle(rec *Record) error {
	r.rec = rec.String()
	defer func() { r.rec, r.evict = "", false }()
	var err error
	switch {
	case rec.Op == OpSRIOV:
		err = r.settleSRIOV(rec)
	case rec.Op == OpRestore:
		err = r.settleRestore(rec)
	case rec.Op == OpMigrate:
		r.settleMigrate(rec)
	case rec.Stub != "":
		err = r.settleStub(rec)
	case r.s.ts == nil:
		return fmt.Errorf("%w: %s: finishing it needs libxl: %v", ErrRecovery, rec, r.s.tsErr)
	default:
		err = r.settleLibxl(rec)
	}
	if err != nil || rec.Setup == nil || rec.did(stepSetup) {
		return err
	}
	return r.finishSetup(rec)
}

// settleLibxl settles an operation libxl carried out.
func (r *recovery) settleLibxl(rec *Record) error {
	if rec.Op == OpAttach && rec.count(stepPausing) > rec.count(stepUnpaused) {
		r.endPause(rec)
	}
	if rec.Op == OpAttach {
		t, err := r.s.readTruth()
		if err != nil {
			return err
		}
		all := true
		for _, in := range rec.Devices {
			all = all && t.attached(in.BDF, rec.Domid)
		}
		if all {
			for _, in := range rec.Devices {
				r.note(in.BDF, fmt.Sprintf("%s holds it, listed by libxl", rec.domain()), "none: the attach finished")
			}
			return nil
		}
		r.evict, r.evictDom = true, rec.Domid
	}
	for _, in := range rec.Devices {
		if err := r.settleOne(rec, in); err != nil {
			return err
		}
	}
	return nil
}

func (r *recovery) settleOne(rec *Record, in Intent) error {
	t, err := r.s.readTruth()
	if err != nil {
		return err
	}
	b := in.BDF
	switch rec.Op {
	case OpHide:
		r.quarantine = true
		defer func() { r.quarantine = false }()
		return r.ensureAssignable(t, b, in.Driver, "the hide did not finish")
	case OpGive:
		return r.ensureDom0(t, b, in.Driver, rec.Rebind, "the give-back did not finish")
	case OpDetach:
		if t.attached(b, rec.Domid) {
			if !rec.did("removing " + b.String()) {
				r.note(b, fmt.Sprintf("%s holds it, listed by libxl", rec.domain()), "none: it is consistently attached (libxl was not asked yet); the detach can be run again")
				return nil
			}
			return r.finishDetach(rec, b)
		}
	case OpAttach:
	default:
		// Never "make assignable" by default: an operation not known
		// here is not acted on (Record.Check refuses it before).
		return fmt.Errorf("%w: %s: operation %q is not settled this way", ErrRecovery, b, rec.Op)
	}
	if err := r.ensureAssignable(t, b, in.Driver, fmt.Sprintf("the %s did not finish", rec.Op)); err != nil {
		return err
	}
	if rec.Op == OpAttach && in.Assign {
		if t, err = r.s.readTruth(); err != nil {
			return err
		}
		return r.ensureDom0(t, b, in.Driver, true, "the attach made it assignable and did not finish")
	}
	return nil
}

// finishDetach removes a device libxl was asked to remove when its run
// died: QEMU may already have asked the guest to eject it, and an eject
// that completes later would leave libxl listing a device QEMU lacks. A
// guest that does not answer keeps it, consistently attached.
func (r *recovery) finishDetach(rec *Record, b xl.PciBdf) error {
	dev := xl.NewDevicePci()
	dev.PciBdf = b
	problem := fmt.Sprintf("the detach from %s died after asking libxl", rec.domain())
	return r.do(b, problem, fmt.Sprintf("finish the detach from domain %d through libxl", rec.Domid), func() error {
		err := r.s.ts.PciRemove(rec.Domid, dev)
		if err == nil || isTimeout(err) {
			return nil // a timed-out guest keeps it, still consistent
		}
		if r.s.dm == nil {
			return err
		}
		if in, derr := r.s.inDeviceModel(rec.Domid, b); derr == nil && !in {
			return r.s.ts.PciDestroy(rec.Domid, dev)
		}
		return err
	})
}

// sweep finds what no record explains: leftovers of libxl, QEMU or a
// killed xl, in any domain.
func (r *recovery) sweep() error {
	t, err := r.s.readTruth()
	if err != nil {
		return err
	}
	var devs []xl.PciBdf
	seen := map[xl.PciBdf]bool{}
	add := func(b xl.PciBdf) {
		if !seen[b] {
			seen[b] = true
			devs = append(devs, b)
		}
	}
	for b := range t.xs {
		add(b)
	}
	for b := range t.dm {
		add(b)
	}
	for b := range t.listed {
		add(b)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Less(devs[j]) })
	for _, u := range t.unplaced {
		r.note(u.id, fmt.Sprintf("domain %d's device model has pci-pt-%02x_%02x.%x, which neither libxl nor an xlpt record places in that guest",
			u.domid, u.id.Bus, u.id.Dev, u.id.Func),
			fmt.Sprintf("left alone: QEMU's word alone is not acted on; if it is a leftover, remove it from domain %d's QEMU with QMP device_del id=pci-pt-%02x_%02x.%x",
				u.domid, u.id.Bus, u.id.Dev, u.id.Func))
	}
	for _, b := range devs {
		if d, ok := t.listed[b]; ok {
			if !t.attached(b, d) {
				if err := r.ensureAssignable(t, b, "", fmt.Sprintf("libxl lists it in domain %d but its device model does not have it", d)); err != nil {
					return err
				}
			}
			continue
		}
		e := t.xs[b]
		switch {
		case e.HasDomid || len(t.dm[b]) > 0:
			err = r.ensureAssignable(t, b, "", ghostProblem(t, b))
		case e.DriverPath != "":
			// Off its driver and off pciback, libxl remembering the
			// driver: a pci-assignable-add by xl that died after the
			// unbind, or a pci-assignable-remove without -r. Only the
			// operator knows which: say what each fix does.
			drv, derr := r.driver(b)
			if derr != nil || onPciback(drv) || drv == path.Base(e.DriverPath) || drv != "" {
				continue
			}
			r.note(b, fmt.Sprintf("it has no driver, and libxl remembers %s for it (a pci-assignable-add that died, or a pci-assignable-remove without -r)", path.Base(e.DriverPath)),
				fmt.Sprintf("left alone: `xlpt pci-assignable-remove -r %s` binds %s again, `xlpt pci-assignable-add %s` hides it", b, path.Base(e.DriverPath), b))
		}
		if err != nil {
			return err
		}
		if t, err = r.s.readTruth(); err != nil {
			return err
		}
	}
	return nil
}

func ghostProblem(t *truth, b xl.PciBdf) string {
	e := t.xs[b]
	switch {
	case e.HasDomid && len(t.dm[b]) > 0:
		return fmt.Sprintf("domain %d's device model has it and libxl's record names domain %d, but no domain lists it (a pci-attach that died)", t.dm[b][0], e.Domid)
	case e.HasDomid:
		return fmt.Sprintf("libxl's record (/libxl/pci/%s/domid) names domain %d, which does not list it: libxl calls it neither assignable nor attached", b, e.Domid)
	}
	return fmt.Sprintf("domain %d's device model has it, but libxl does not list it", t.dm[b][0])
}

func (r *recovery) note(b xl.PciBdf, problem, action string) {
	r.rep.Repairs = append(r.rep.Repairs, Repair{Device: b, Record: r.rec, Problem: problem, Action: action})
}

// do runs one repair unless dry, recording it.
func (r *recovery) do(b xl.PciBdf, problem, action string, fn func() error) error {
	f := Repair{Device: b, Record: r.rec, Problem: problem, Action: action}
	if r.dry {
		f.Action = "would " + action
	} else if err := fn(); err != nil {
		f.Err = err.Error()
		r.rep.Repairs = append(r.rep.Repairs, f)
		return fmt.Errorf("%w: %s: %s: %w", ErrRecovery, b, action, err)
	}
	r.rep.Repairs = append(r.rep.Repairs, f)
	return nil
}

func (r *recovery) driver(b xl.PciBdf) (string, error) {
	if r.s.sysfs != nil {
		return r.s.sysfs.CurrentDriver(b)
	}
	if d, ok := r.s.host.Device(b); ok {
		return d.Driver, nil
	}
	return "", fmt.Errorf("%w: %s", ErrNoDevice, b)
}

// driverKnown says whether a driver named by a record is one of this
// host's (/sys/bus/pci/drivers/NAME under the sysfs root), before it
// becomes a path libxl writes or binds.
func (r *recovery) driverKnown(name string) bool {
	if r.s.sysfs == nil {
		return pcibind.ValidDriverName(name)
	}
	return r.s.sysfs.DriverLoaded(name)
}

func onPciback(drv string) bool { return drv == "pciback" || drv == "xen-pciback" }

// isStub says whether drv only holds a device for passthrough.
func isStub(drv string) bool { return onPciback(drv) || drv == pcibind.DriverPciStub }

// toAssignable are the reconcilers that bring a device from wherever it
// is to assignable (on pciback, quarantined, in no domain), in order.
var toAssignable = []struct {
	name string
	fn   func(r *recovery, t *truth, b xl.PciBdf, orig, problem string) error
}{
	{"libxl", (*recovery).dropFromLibxl},
	{"qemu", (*recovery).dropFromQemu},
	{"xen", (*recovery).dropFromXen},
	{"domid", (*recovery).dropDomid},
	{"pciback", (*recovery).toPciback},
	{"driver_path", (*recovery).rememberDriver},
}

// ensureAssignable runs every reconciler of toAssignable; each acts only
// where the truth says it must.
func (r *recovery) ensureAssignable(t *truth, b xl.PciBdf, orig, problem string) error {
	before := len(r.rep.Repairs)
	for _, step := range toAssignable {
		n := len(r.rep.Repairs)
		if err := step.fn(r, t, b, orig, problem); err != nil {
			return err
		}
		if len(r.rep.Repairs) > n && !r.dry {
			// The step changed the host: the next ones read it again.
			var err error
			if t, err = r.s.readTruth(); err != nil {
				return err
			}
		}
	}
	if len(r.rep.Repairs) == before {
		r.note(b, problem, "none: it is assignable")
	}
	return nil
}

// dropFromLibxl: a device libxl lists in a guest whose QEMU lacks it is
// half-removed; libxl's forced remove finishes it.
func (r *recovery) dropFromLibxl(t *truth, b xl.PciBdf, _, problem string) error {
	d, ok := t.listed[b]
	if !ok || (t.attached(b, d) && !(r.evict && d == r.evictDom)) {
		return nil
	}
	dev := xl.NewDevicePci()
	dev.PciBdf = b
	what := fmt.Sprintf("remove it from domain %d through libxl (forced)", d)
	if t.attached(b, d) {
		what = fmt.Sprintf("detach it from domain %d through libxl (forced): the attach is all or none", d)
	}
	return r.do(b, problem, what, func() error {
		return r.s.ts.PciDestroy(d, dev)
	})
}

// dropFromQemu: QEMU still has a device libxl does not list there.
func (r *recovery) dropFromQemu(t *truth, b xl.PciBdf, _, problem string) error {
	for _, d := range t.dm[b] {
		if l, ok := t.listed[b]; ok && l == d {
			continue
		}
		d := d
		if err := r.do(b, problem, fmt.Sprintf("delete it from domain %d's device model (QMP device_del)", d), func() error {
			return r.s.dm.RemoveStale(d, b)
		}); err != nil {
			return err
		}
	}
	return nil
}

// dropFromXen: Xen still gives the device to a guest that libxl does not
// list it in; it goes back to quarantine.
func (r *recovery) dropFromXen(t *truth, b xl.PciBdf, _, problem string) error {
	if _, ok := t.listed[b]; ok {
		return nil
	}
	busy, err := r.s.ts.PciXenAssigned(b)
	if err != nil || !busy {
		return err
	}
	dom, ok := t.xs[b].Domid, t.xs[b].HasDomid
	if !ok && len(t.dm[b]) > 0 {
		dom, ok = t.dm[b][0], true
	}
	if !ok {
		return r.do(b, problem, "none possible: Xen assigns it to a guest no record names", func() error {
			return fmt.Errorf("find the guest with `xl pci-list-all`-like tools or destroy it")
		})
	}
	return r.do(b, problem, fmt.Sprintf("take it back from domain %d in Xen (xc_deassign_device, back to quarantine)", dom), func() error {
		return r.s.ts.PciXenDeassign(dom, b)
	})
}

// dropDomid: libxl's record of a domain that does not list the device.
func (r *recovery) dropDomid(t *truth, b xl.PciBdf, _, problem string) error {
	e := t.xs[b]
	if !e.HasDomid {
		return nil
	}
	if _, ok := t.listed[b]; ok {
		return nil
	}
	return r.do(b, problem, fmt.Sprintf("remove libxl's stale record /libxl/pci/%s/domid (%d)", b, e.Domid), func() error {
		return r.s.ts.PciXsRemove(b, "domid")
	})
}

// toPciback: a device off pciback goes back (libxl binds and quarantines).
func (r *recovery) toPciback(t *truth, b xl.PciBdf, orig, problem string) error {
	if _, ok := t.listed[b]; ok {
		return nil
	}
	drv, err := r.driver(b)
	if err != nil {
		return err
	}
	dev := xl.NewDevicePci()
	dev.PciBdf = b
	if onPciback(drv) && t.assignable[b] {
		if !r.quarantine {
			return nil
		}
		// Xen's quarantine is libxl's last step and cannot be read
		// back: ask again. A refusal is no inconsistency (the device is
		// on pciback and assignable), so it is reported, not fatal.
		return r.do(b, problem, "quarantine it through libxl (the hide may have died before Xen's step)", func() error {
			if err := r.s.ts.PciAssignableAdd(dev, true); err != nil {
				r.s.log().WithError(err).WithField("device", b).Warn("libxl did not quarantine it again; it stays on pciback, assignable")
			}
			return nil
		})
	}
	return r.do(b, problem, fmt.Sprintf("make it assignable through libxl (it is on %s)", OrNone(drv)), func() error {
		// A VF of an autoprobe=0 PF binds only with driver_override
		// set, which the hide that died may not have got to.
		if r.s.sysfs != nil {
			var u undo.Stack // recovery's steps are not undone
			if err := r.s.probeOverride(b, pcibind.DriverPciback, &u); err != nil {
				return err
			}
		}
		return r.s.ts.PciAssignableAdd(dev, true)
	})
}

// rememberDriver: libxl forgets the original driver when its add died
// after the unbind; the intent record has it.
func (r *recovery) rememberDriver(t *truth, b xl.PciBdf, orig, problem string) error {
	if orig == "" || onPciback(orig) || t.xs[b].DriverPath != "" {
		return nil
	}
	if !r.driverKnown(orig) {
		r.note(b, problem, fmt.Sprintf("none: the record's driver %q is not a driver under /sys/bus/pci/drivers here, so it is not given to libxl as the original driver", orig))
		return nil
	}
	if es, err := r.s.ts.PciXsEntries(); err == nil {
		for _, e := range es {
			if e.BDF == b && e.DriverPath != "" {
				return nil // libxl wrote it meanwhile
			}
		}
	}
	return r.do(b, problem, fmt.Sprintf("record %s as its original driver for pci-assignable-remove -r", orig), func() error {
		return r.s.ts.PciXsSetDriverPath(b, "/sys/bus/pci/drivers/"+orig)
	})
}

// ensureDom0 gives a device in no domain back to its dom0 driver (or to
// none, without rebind).
func (r *recovery) ensureDom0(t *truth, b xl.PciBdf, orig string, rebind bool, problem string) error {
	if d, ok := t.listed[b]; ok {
		return r.do(b, problem, "none", func() error {
			return fmt.Errorf("%w: domain %d holds it; detach it first (xlpt pci-detach %d %s)", ErrAssignedElsewhere, d, d, b)
		})
	}
	if !rebind {
		orig = ""
	}
	drv, err := r.driver(b)
	if err != nil {
		return err
	}
	if onPciback(drv) {
		return r.releaseFromPciback(t, b, orig, rebind, problem)
	}
	if drv == orig {
		return r.tidyDom0(t, b, problem)
	}
	return r.do(b, problem, fmt.Sprintf("bind it to %s (it is on %s)", OrNone(orig), OrNone(drv)), func() error {
		if err := r.s.sysfs.RemoveSlot(b); err != nil {
			return err
		}
		if err := r.s.sysfs.Rebind(b, orig); err != nil {
			return err
		}
		if t.xs[b].DriverPath != "" {
			return r.s.ts.PciXsRemove(b, "driver_path")
		}
		return nil
	})
}

func (r *recovery) releaseFromPciback(t *truth, b xl.PciBdf, orig string, rebind bool, problem string) error {
	dev := xl.NewDevicePci()
	dev.PciBdf, dev.VfuncMask = b, 1
	if orig != "" && !r.driverKnown(orig) {
		problem += fmt.Sprintf(" (the record's driver %q is not a driver under /sys/bus/pci/drivers here)", orig)
		orig = ""
	}
	return r.do(b, problem, fmt.Sprintf("release it from pciback through libxl, to %s", OrNone(orig)), func() error {
		if orig != "" && t.xs[b].DriverPath == "" {
			if err := r.s.ts.PciXsSetDriverPath(b, "/sys/bus/pci/drivers/"+orig); err != nil {
				return err
			}
		}
		if err := r.s.ts.PciAssignableRemove(dev, rebind); err != nil {
			// Not quarantined (an add that died before Xen's step):
			// quarantine it, then release it.
			if aerr := r.s.ts.PciAssignableAdd(dev, true); aerr != nil {
				return errors.Join(err, aerr)
			}
			return r.s.ts.PciAssignableRemove(dev, rebind)
		}
		return nil
	})
}

// tidyDom0: on its driver already; pciback's slot and libxl's record of
// the driver are leftovers.
func (r *recovery) tidyDom0(t *truth, b xl.PciBdf, problem string) error {
	if t.xs[b].DriverPath == "" {
		r.note(b, problem, "none: it is on its dom0 driver")
		return nil
	}
	return r.do(b, problem, "forget libxl's record of its driver (it is back on it)", func() error {
		if err := r.s.sysfs.RemoveSlot(b); err != nil {
			return err
		}
		return r.s.ts.PciXsRemove(b, "driver_path")
	})
}

// endPause ends the pause a killed attach put on its guest (pauseGuest),
// if the guest is there and paused: the attach paused only a running
// guest, so a paused one is its doing (or the run died before the pause,
// or after the unpause: then the guest runs, and is left so).
func (r *recovery) endPause(rec *Record) {
	info, err := r.s.ts.DomainInfo(rec.Domid)
	if err != nil || !info.State.Has(xl.StatePaused) {
		return
	}
	if len(rec.Devices) == 0 {
		return
	}
	// Reported under the first device: the pause was for all of them. A
	// failure stays in the report (and `xl unpause` is the way out).
	what := fmt.Sprintf("the attach paused %s (Xen's MSI-X hot-plug race) and died", rec.domain())
	_ = r.do(rec.Devices[0].BDF, what, fmt.Sprintf("unpause domain %d", rec.Domid), func() error { return r.s.ts.DomainUnpause(rec.Domid) })
}
