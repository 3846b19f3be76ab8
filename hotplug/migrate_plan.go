package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/xlpt/xlpt/internal/atomicfile"
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
	Domain     string       `json:"domain"`
	To         string       `json:"to,omitempty"`
	SourceHost string       `json:"source_host"`
	Force      bool         `json:"force"`
	Phase      Phase        `json:"phase"`
	Devices    []PlanDevice `json:"devices"`
	Events     []PlanEvent  `json:"events"`
}

// Phase is where a plan's workflow stands.
type Phase string

const (
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

func parseBDF(s string) (xl.PciBdf, error) {
	var b xl.PciBdf
	if _, err := fmt.Sscanf(s, "%04x:%02x:%02x.%1x", &b.Domain, &b.Bus, &b.Dev, &b.Func); err != nil {
		return b, fmt.Errorf("BDF %q: want DDDD:BB:DD.F", s)
	}
	return b, nil
}

// devicePci rebuilds the libxl device of the attach from the plan.
func (d PlanDevice) devicePci(b xl.PciBdf) xl.DevicePci {
	x := xl.NewDevicePci()
	x.PciBdf, x.VfuncMask, x.Vdevfn = b, 1, d.Vdevfn
	o := d.Options
	x.Msitranslate, x.PowerMgmt, x.Permissive, x.Seize, x.Name = o.Msitranslate, o.PowerMgmt, o.Permissive, o.Seize, o.Name
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

// Load returns the plan, or (nil, nil) when there is none yet.
func (f FilePlan) Load() (*Plan, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", f.Path, err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %s is not a plan (%w); give another --plan file", ErrPlan, f.Path, err)
	}
	if p.Version != PlanVersion {
		return nil, fmt.Errorf("%w: %s is plan version %d; this xlpt reads version %d", ErrPlan, f.Path, p.Version, PlanVersion)
	}
	return &p, nil
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
