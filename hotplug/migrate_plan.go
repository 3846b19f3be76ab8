package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/xlpt/xlpt/internal/atomicfile"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// PlanVersion is the version of the plan format this xlpt writes and
// reads; the README documents it.
const PlanVersion = 1

// Plan is the record of a migration's (or a move's) device steps. It is
// written before the first change and after every step, so after a crash
// it says what was done and the same command can finish the job.
type Plan struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"` // "migrate" or "move"
	// Domain is the guest the devices were taken from (a name: domids
	// change with a migration). To is a move's receiving guest.
	Domain     string `json:"domain"`
	To         string `json:"to,omitempty"`
	SourceHost string `json:"source_host"`
	// GuestType ("hvm", "pv", "pvh") and Passthrough (xl.cfg's
	// passthrough=, as libxl reports it) are what the target's Xen must
	// offer the guest (`migrate check`); a plan an older xlpt wrote has
	// neither.
	GuestType   string `json:"guest_type,omitempty"`
	Passthrough string `json:"passthrough,omitempty"`
	// MemoryKiB is the memory Xen gave the guest when the plan was
	// written: the least the target must have free (`migrate check`).
	MemoryKiB uint64       `json:"memory_kib,omitempty"`
	Force     bool         `json:"force"`
	Phase     Phase        `json:"phase"`
	Devices   []PlanDevice `json:"devices"`
	Events    []PlanEvent  `json:"events"`
}

// The words a plan's guest_type and passthrough may hold ("" too).
var (
	planGuestTypes   = []string{"hvm", "pv", "pvh"}
	planPassthroughs = []string{"default", "disabled", "enabled", "sync_pt", "share_pt"}
)

// Phase is where a plan's workflow stands.
type Phase string

const (
	PhasePreview    Phase = "preview"      // migrate detach --dry-run: what the detach would start from; nothing was detached
	PhaseDetaching  Phase = "detaching"    // migrate detach running or interrupted
	PhaseDetached   Phase = "detached"     // every device out of the guest: ready for xl migrate
	PhaseAttaching  Phase = "attaching"    // migrate attach running or interrupted
	PhaseAttached   Phase = "attached"     // every device back, in the guest on the target
	PhaseRollingBck Phase = "rolling_back" // rollback running or interrupted
	PhaseRolledBack Phase = "rolled_back"  // every device back in the guest on the source
	PhaseMoving     Phase = "moving"       // pci-move running or interrupted
	PhaseMoved      Phase = "moved"        // pci-move done
)

// Done reports a finished workflow: a new one may reuse the file.
func (p Phase) Done() bool {
	return p == PhaseAttached || p == PhaseRolledBack || p == PhaseMoved
}

// Reusable reports a plan a new workflow replaces: a finished one, or a
// preview, which records no device out of its guest.
func (p Phase) Reusable() bool { return p.Done() || p == PhasePreview }

// DeviceState is where one device is. The -ing states are intents
// written before a step; the next run settles them from libxl's lists.
type DeviceState string

const (
	StateInSource  DeviceState = "in_source" // in the guest, on the source host (or FROM of a move)
	StateDetaching DeviceState = "detaching" // being removed from the guest on the source
	StateDetached  DeviceState = "detached"  // out of every guest; assignable on the source host
	StateAttaching DeviceState = "attaching" // being attached; AttachTo says where
	StateInTarget  DeviceState = "in_target" // in the guest on the target host (or TO of a move), at TargetBDF
)

// PlanDevice is one host function the guest held.
type PlanDevice struct {
	BDF       string      `json:"bdf"`        // on the source host
	Vdevfn    uint32      `json:"vdevfn"`     // guest slot<<3 | function (0 for PV)
	GuestSlot string      `json:"guest_slot"` // the same, as "07.0"
	FuncMask  uint32      `json:"vfunc_mask"`
	Options   PlanOptions `json:"options"`
	// Assignable says how the device was made assignable on the source.
	Assignable PlanAssignable `json:"assignable"`
	// Group is the bridge of a same-domain group (conventional PCI
	// behind a PCIe-to-PCI bridge): members move together.
	Group    string      `json:"group,omitempty"`
	Identity Identity    `json:"identity"`
	State    DeviceState `json:"state"`
	// AttachTo is "target" or "source" while State is attaching.
	AttachTo  string `json:"attach_to,omitempty"`
	TargetBDF string `json:"target_bdf,omitempty"`
	// TargetSlot is the guest slot in a move's TO (a migration keeps
	// GuestSlot).
	TargetSlot string `json:"target_guest_slot,omitempty"`

	// interrupted: a killed run had asked the guest to eject it.
	interrupted bool
}

// PlanOptions are the per-device options of the attach (xl's spec keys).
type PlanOptions struct {
	Msitranslate bool   `json:"msitranslate"`
	PowerMgmt    bool   `json:"power_mgmt"`
	Permissive   bool   `json:"permissive"`
	Seize        bool   `json:"seize"`
	RdmPolicy    string `json:"rdm_policy"` // strict, relaxed, or "" (libxl's default: strict)
	Name         string `json:"name,omitempty"`
}

// PlanAssignable is how the device was hidden from dom0.
type PlanAssignable struct {
	Driver         string `json:"driver"`                    // pciback or pci-stub
	OriginalDriver string `json:"original_driver,omitempty"` // from xlpt's own record, when xlpt hid it
}

// PlanEvent is one completed (or settled) step.
type PlanEvent struct {
	Time   time.Time `json:"time"`
	Step   string    `json:"step"` // detach, attach, undo, settle, preflight
	Device string    `json:"device,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func (p *Plan) event(step, dev, format string, a ...any) {
	p.Events = append(p.Events, PlanEvent{Time: time.Now().UTC(), Step: step, Device: dev, Detail: fmt.Sprintf(format, a...)})
}

func (d PlanDevice) bdf() xl.PciBdf {
	b, _ := parseBDF(d.BDF)
	return b
}

func (d PlanDevice) target() xl.PciBdf {
	b, _ := parseBDF(d.TargetBDF)
	return b
}

// parseBDF reads a plan's BDF strictly: DDDD:BB:DD.F exactly as xlpt
// writes it, in range ("garbage" once became 0000:00:00.0).
func parseBDF(s string) (xl.PciBdf, error) {
	b, all, err := xl.ParseBdf(s)
	if err != nil || all || b.String() != s {
		return xl.PciBdf{}, fmt.Errorf("BDF %q: want one function as DDDD:BB:DD.F (0000:03:00.0)", s)
	}
	return b, nil
}

// devicePci rebuilds the libxl device of the attach from the plan.
func (d PlanDevice) devicePci(b xl.PciBdf) xl.DevicePci {
	x := xl.NewDevicePci()
	x.PciBdf, x.VfuncMask, x.Vdevfn = b, 1, d.Vdevfn
	o := d.Options
	// Seize is recorded, never taken from a plan: it would make
	// assignable whatever the target host has at the BDF, past the
	// dom0-use refusals (--assign decides that, on this host).
	x.Msitranslate, x.PowerMgmt, x.Permissive, x.Name = o.Msitranslate, o.PowerMgmt, o.Permissive, o.Name
	switch o.RdmPolicy {
	case "strict":
		x.RdmPolicy = xl.RdmPolicyStrict
	case "relaxed":
		x.RdmPolicy = xl.RdmPolicyRelaxed
	}
	return x
}

// ErrPlan marks a plan that cannot be used (unreadable, another version,
// another domain).
var ErrPlan = errors.New("unusable plan")

// FilePlan is a plan in a file, replaced atomically: a temporary file
// in the same directory, fsync, rename, fsync of the directory. A crash
// leaves the old plan or the new one, never half of one.
type FilePlan struct {
	Path   string
	nosync bool // the tests' crashes are simulated: no need to wait for the disk
	// afterSave, when set (tests), runs after each durable write: a
	// simulated crash there stops the process between steps.
	afterSave func()
}

func (f FilePlan) String() string { return f.Path }

// Bounds of a plan read back: a guest holds at most 256 functions; a
// plan's events grow by a few per device and command.
const (
	maxPlanBytes   = 4 << 20
	maxPlanDevices = 256
)

// Load returns the plan, or (nil, nil) when there is none yet. The plan
// is untrusted input (it comes from another host): it is read bounded
// and checked whole (ParsePlan) before any of it is used.
func (f FilePlan) Load() (*Plan, error) {
	fh, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", f.Path, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", f.Path, err)
	}
	p, err := ParsePlan(b)
	var notJSON *notPlanError
	switch {
	case errors.As(err, &notJSON):
		return nil, fmt.Errorf("%w: %s is not a plan (%w); give another --plan file", ErrPlan, f.Path, notJSON.err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w; give another --plan file", ErrPlan, f.Path, err)
	}
	return p, nil
}

// notPlanError is a file that is not JSON of a plan at all.
type notPlanError struct{ err error }

func (e *notPlanError) Error() string { return "not a plan (" + e.err.Error() + ")" }
func (e *notPlanError) Unwrap() error { return e.err }

// ParsePlan reads a plan as untrusted input: bounded, JSON of version
// PlanVersion, and Check.
func ParsePlan(b []byte) (*Plan, error) {
	if len(b) > maxPlanBytes {
		return nil, fmt.Errorf("over %d bytes: not a plan xlpt writes", maxPlanBytes)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, &notPlanError{err}
	}
	if p.Version != PlanVersion {
		return nil, fmt.Errorf("it is plan version %d; this xlpt reads version %d", p.Version, PlanVersion)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Check refuses a plan no xlpt writes: every field an enumeration or a
// value in range, every BDF one function as DDDD:BB:DD.F, no more devices
// than a guest holds.
func (p *Plan) Check() error {
	switch p.Kind {
	case "migrate", "move":
	default:
		return fmt.Errorf("kind %q: want migrate or move", p.Kind)
	}
	switch p.Phase {
	case PhasePreview, PhaseDetaching, PhaseDetached, PhaseAttaching, PhaseAttached, PhaseRollingBck, PhaseRolledBack, PhaseMoving, PhaseMoved:
	default:
		return fmt.Errorf("phase %q is not one of xlpt's", p.Phase)
	}
	if p.GuestType != "" && !slices.Contains(planGuestTypes, p.GuestType) {
		return fmt.Errorf("guest_type %q: want hvm, pv or pvh", p.GuestType)
	}
	if p.Passthrough != "" && !slices.Contains(planPassthroughs, p.Passthrough) {
		return fmt.Errorf("passthrough %q is not one of libxl's", p.Passthrough)
	}
	if err := checkWord("domain", p.Domain, false); err != nil {
		return err
	}
	if err := checkWord("to", p.To, true); err != nil {
		return err
	}
	if err := checkWord("source_host", p.SourceHost, true); err != nil {
		return err
	}
	if len(p.Devices) > maxPlanDevices {
		return fmt.Errorf("%d devices: a guest holds at most %d", len(p.Devices), maxPlanDevices)
	}
	seen := map[string]bool{}
	for i, d := range p.Devices {
		if err := d.check(); err != nil {
			return fmt.Errorf("device %d (%s): %w", i, d.BDF, err)
		}
		if seen[d.BDF] {
			return fmt.Errorf("device %d: %s is listed twice", i, d.BDF)
		}
		seen[d.BDF] = true
	}
	return nil
}

func (d PlanDevice) check() error {
	if _, err := parseBDF(d.BDF); err != nil {
		return fmt.Errorf("bdf: %w", err)
	}
	for what, s := range map[string]string{"target_bdf": d.TargetBDF, "group": d.Group} {
		if s == "" {
			continue
		}
		if _, err := parseBDF(s); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if d.Vdevfn > 0xff {
		return fmt.Errorf("vdevfn %#x is out of range (slot<<3 | function)", d.Vdevfn)
	}
	if want := fmt.Sprintf("%02x.%x", d.Vdevfn>>3, d.Vdevfn&7); d.GuestSlot != want {
		return fmt.Errorf("guest_slot %q is not vdevfn %#x (%s)", d.GuestSlot, d.Vdevfn, want)
	}
	if d.TargetSlot != "" {
		var s, f uint8
		if n, err := fmt.Sscanf(d.TargetSlot, "%02x.%1x", &s, &f); n != 2 || err != nil || s > 0x1f || f > 7 || fmt.Sprintf("%02x.%x", s, f) != d.TargetSlot {
			return fmt.Errorf("target_guest_slot %q: want SS.F", d.TargetSlot)
		}
	}
	if d.FuncMask > 0xff {
		return fmt.Errorf("vfunc_mask %#x is out of range", d.FuncMask)
	}
	switch d.State {
	case StateInSource, StateDetaching, StateDetached, StateAttaching, StateInTarget:
	default:
		return fmt.Errorf("state %q is not one of xlpt's", d.State)
	}
	switch d.AttachTo {
	case "", "target", "source":
	default:
		return fmt.Errorf("attach_to %q: want target or source", d.AttachTo)
	}
	switch d.Options.RdmPolicy {
	case "", "strict", "relaxed":
	default:
		return fmt.Errorf("rdm_policy %q: want strict, relaxed or none", d.Options.RdmPolicy)
	}
	if err := checkWord("name", d.Options.Name, true); err != nil {
		return err
	}
	for what, drv := range map[string]string{"driver": d.Assignable.Driver, "original_driver": d.Assignable.OriginalDriver} {
		if drv != "" && !pcibind.ValidDriverName(drv) {
			return fmt.Errorf("assignable %s %q is not a driver's name", what, drv)
		}
	}
	id := d.Identity
	if id.PF != nil && id.PF.PF != nil {
		return errors.New("identity: the PF of a VF is no VF")
	}
	if (id.PF == nil) != (id.VFIndex == nil) || id.VFIndex != nil && (*id.VFIndex < 0 || *id.VFIndex > 0xffff) {
		return errors.New("identity: a VF has its PF's identity and its index, in range")
	}
	if len(id.DSN) > 64 || id.PF != nil && len(id.PF.DSN) > 64 {
		return errors.New("identity: dsn is too long")
	}
	return nil
}

// checkWord refuses a name that is empty (unless it may be), long, or
// holds control characters: domain and host names end up in messages
// and in libxl's calls.
func checkWord(what, s string, empty bool) error {
	if s == "" && !empty {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > 255 {
		return fmt.Errorf("%s is %d bytes long", what, len(s))
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s %q holds a control character", what, s)
		}
	}
	return nil
}

// ErrPlanBusy refuses a plan another run holds (its lock file, PLAN.lock).
var ErrPlanBusy = errors.New("another xlpt run holds the plan")

// lock takes PLAN.lock (flock, never through a symlink), waiting up to
// timeout; the file goes when the lock does. A waiter that got the lock
// on a file removed meanwhile tries again on the new one.
func (f FilePlan) lock(timeout time.Duration) (func(), error) {
	if timeout <= 0 {
		timeout = pcibind.DefaultLockTimeout
	}
	p := f.Path + ".lock"
	deadline := time.Now().Add(timeout)
	for {
		fh, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock plan %s: %w", f.Path, err)
		}
		err = syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			var held, now syscall.Stat_t
			if syscall.Fstat(int(fh.Fd()), &held) == nil && syscall.Stat(p, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
				return func() {
					os.Remove(p)
					_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
					fh.Close()
				}, nil
			}
			fh.Close() // removed by the run before: lock the new one
			continue
		}
		fh.Close()
		if err != syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("lock plan %s: %w", f.Path, os.NewSyscallError("flock", err))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s is locked (%s) by another run for over %v: another host sharing the file, or a run with another state directory; wait for it to finish",
				ErrPlanBusy, f.Path, p, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Save replaces the plan.
func (f FilePlan) Save(p *Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(f.Path, append(b, '\n'), !f.nosync); err != nil {
		return fmt.Errorf("write plan %s: %w", f.Path, err)
	}
	if f.afterSave != nil {
		f.afterSave()
	}
	return nil
}

// Status says in one line where the plan's domain and devices are:
// "hvm1 attached: 0000:00:05.0 in_target@06.0, ...".
func (p *Plan) Status() string {
	var ds []string
	for _, d := range p.Devices {
		slot := d.GuestSlot
		if d.State == StateInTarget && d.TargetSlot != "" {
			slot = d.TargetSlot
		}
		at := d.BDF
		if d.State == StateInTarget && d.TargetBDF != d.BDF {
			at += "->" + d.TargetBDF
		}
		ds = append(ds, fmt.Sprintf("%s %s@%s", at, d.State, slot))
	}
	if len(ds) == 0 {
		ds = []string{"no devices"}
	}
	return fmt.Sprintf("%s %s: %s", p.Domain, p.Phase, strings.Join(ds, ", "))
}

// Where says where one of the plan's devices is, in words.
func (p *Plan) Where(d PlanDevice) string {
	switch d.State {
	case StateInSource:
		return "in " + p.Domain + " (source)"
	case StateInTarget:
		if p.Kind == "move" {
			return fmt.Sprintf("in %s at guest slot %s", p.To, d.TargetSlot)
		}
		return fmt.Sprintf("in %s as %s (target)", p.Domain, d.TargetBDF)
	case StateDetached:
		return "detached: assignable on " + p.SourceHost
	}
	return string(d.State) + " (interrupted: run the command again)"
}
