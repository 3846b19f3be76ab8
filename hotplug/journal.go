package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xlpt/xlpt/internal/atomicfile"
	"github.com/xlpt/xlpt/xl"
)

// Op names what an intent record is about.
type Op string

const (
	OpHide   Op = "hide"   // pci-assignable-add: dom0 driver -> pciback
	OpGive   Op = "give"   // pci-assignable-remove: pciback -> dom0 driver
	OpAttach Op = "attach" // pci-attach: assignable -> domain
	OpDetach Op = "detach" // pci-detach: domain -> assignable
	// OpSRIOV is sriov enable/disable, the whole sequence: VFs released,
	// sriov_drivers_autoprobe, sriov_numvfs through 0, the new VFs waited
	// for and hidden, the host setup recorded.
	OpSRIOV Op = "sriov"
	// OpRestore is restore: every entry of the host setup applied.
	OpRestore Op = "restore"
	// OpMigrate is a migrate command or pci-move: its plan records each
	// device's step.
	OpMigrate Op = "migrate"
)

// Intent is one function's part of an operation: where it is going and
// what it came from, so recovery can finish or undo it.
type Intent struct {
	BDF    xl.PciBdf `json:"bdf"`
	Driver string    `json:"driver,omitempty"` // its dom0 driver before the operation ("" none)
	Assign bool      `json:"assign,omitempty"` // attach: made assignable by this operation
	Vdevfn uint32    `json:"vdevfn,omitempty"` // attach: the guest slot chosen
}

// Record is the intent record of one operation, written before its first
// change and removed when it ends. A record whose run died is what
// recovery reconciles.
type Record struct {
	ID      string `json:"id"`
	Op      Op     `json:"op"`
	Domid   uint32 `json:"domid,omitempty"`
	DomName string `json:"domain,omitempty"`
	HVM     bool   `json:"hvm,omitempty"`
	Rebind  bool   `json:"rebind,omitempty"` // give: back to the original driver
	// Stub is the stub driver of a hide or give-back through sysfs
	// (pci-stub, or pciback without libxl); "" through libxl.
	Stub    string   `json:"stub,omitempty"`
	Devices []Intent `json:"devices"`
	// Setup is the host-setup edit (--persist) made once the devices are
	// where the operation takes them; recovery makes it when it finishes
	// the operation.
	Setup *SetupEdit `json:"setup,omitempty"`
	// SRIOV is an sriov operation's request, which recovery carries out
	// again (every step of it is idempotent).
	SRIOV *SRIOVRequest `json:"sriov,omitempty"`
	// Plan is a migrate operation's plan file.
	Plan string `json:"plan,omitempty"`
	// Dir is the host-setup directory of a restore, or of an sriov
	// change with --persist.
	Dir     string    `json:"dir,omitempty"`
	Done    []string  `json:"done"` // steps completed, in order
	PID     int       `json:"pid"`
	Cmdline string    `json:"cmdline"`
	Time    time.Time `json:"time"`
	path    string
}

// String says what the operation was, for recover's report.
func (r *Record) String() string {
	var bs []xl.PciBdf
	for _, d := range r.Devices {
		bs = append(bs, d.BDF)
	}
	dev := xl.JoinBdfs(bs)
	switch r.Op {
	case OpAttach:
		return fmt.Sprintf("attach %s to %s (pid %d, %s)", dev, r.domain(), r.PID, r.Time.Format(time.RFC3339))
	case OpDetach:
		return fmt.Sprintf("detach %s from %s (pid %d, %s)", dev, r.domain(), r.PID, r.Time.Format(time.RFC3339))
	case OpHide:
		return fmt.Sprintf("make %s assignable (pid %d, %s)", dev, r.PID, r.Time.Format(time.RFC3339))
	case OpSRIOV:
		return fmt.Sprintf("set %d VFs on %s (pid %d, %s)", r.SRIOV.NumVFs, r.SRIOV.PF, r.PID, r.Time.Format(time.RFC3339))
	case OpRestore:
		return fmt.Sprintf("restore the host setup (pid %d, %s)", r.PID, r.Time.Format(time.RFC3339))
	case OpMigrate:
		return fmt.Sprintf("the migration or move of %s's devices, plan %s (pid %d, %s)", r.DomName, r.Plan, r.PID, r.Time.Format(time.RFC3339))
	}
	return fmt.Sprintf("give %s back to dom0 (pid %d, %s)", dev, r.PID, r.Time.Format(time.RFC3339))
}

// did says whether the run that wrote r completed step.
func (r *Record) did(step string) bool {
	for _, d := range r.Done {
		if d == step {
			return true
		}
	}
	return false
}

func (r *Record) domain() string {
	if r.DomName != "" {
		return fmt.Sprintf("%s (domain %d)", r.DomName, r.Domid)
	}
	return fmt.Sprintf("domain %d", r.Domid)
}

// Journal keeps intent records in a state directory, one file each. All
// writes are atomic and durable (temp file, fsync, rename, fsync of the
// directory), so a record read after a crash is one that was written
// whole. It is used under the host lock only.
type Journal struct {
	Dir string
	// afterWrite, when set (tests), runs after each durable write: a
	// simulated crash there stops the process between steps.
	afterWrite func()
	// noSync skips fsync (the crash matrix, where the process dies but
	// the machine does not; thousands of fsyncs would only slow it).
	noSync bool
	clock  Clock // nil: the system clock
}

// NewJournal keeps records in stateDir/journal.
func NewJournal(stateDir string) *Journal {
	return &Journal{Dir: filepath.Join(stateDir, "journal")}
}

// Begin writes a new record before the operation's first change.
func (j *Journal) Begin(r *Record) error {
	if j == nil {
		return nil
	}
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.Time = time.Now().UTC()
	if j.clock != nil {
		r.Time = j.clock.Now().UTC()
	}
	r.PID = os.Getpid()
	if r.Cmdline == "" {
		r.Cmdline = strings.Join(os.Args, " ")
	}
	r.ID = fmt.Sprintf("%d-%d-%s", r.Time.UnixNano(), r.PID, r.Op)
	r.path = filepath.Join(j.Dir, r.ID+".json")
	if r.Done == nil {
		r.Done = []string{}
	}
	return j.write(r)
}

// Step records that a step completed.
func (j *Journal) Step(r *Record, step string) error {
	if j == nil || r == nil {
		return nil
	}
	r.Done = append(r.Done, step)
	return j.write(r)
}

// End removes the record: the operation finished (or rolled back).
func (j *Journal) End(r *Record) error {
	if j == nil || r == nil || r.path == "" {
		return nil
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return j.syncDir(j.Dir)
}

// Pending lists the records left in the journal, oldest first. Under the
// host lock every one of them belongs to a run that died.
func (j *Journal) Pending() ([]*Record, error) {
	if j == nil {
		return nil, nil
	}
	ents, err := os.ReadDir(j.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []*Record
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(j.Dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		r := &Record{}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("journal record %s is corrupt (move it away after checking the device by hand): %w", p, err)
		}
		r.path = p
		out = append(out, r)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out, nil
}

func (j *Journal) write(r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.path, append(data, '\n'), !j.noSync); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.afterWrite != nil {
		j.afterWrite()
	}
	return nil
}

// syncDir makes a removal in dir durable.
func (j *Journal) syncDir(dir string) error {
	if j.noSync {
		return nil
	}
	return atomicfile.SyncDir(dir)
}
