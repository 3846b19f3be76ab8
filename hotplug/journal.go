package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xlpt/xlpt/internal/atomicfile"
	"github.com/xlpt/xlpt/pcibind"
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

// RecordVersion is the format of the intent records this xlpt writes and
// reads; a record of a newer format is never acted on.
const RecordVersion = 1

// Record is the intent record of one operation, written before its first
// change and removed when it ends. A record whose run died is what
// recovery reconciles. It is bound to its world: the boot it was written
// in (BootID), the guest it is about (Domid, DomName, DomUUID) and the
// run that wrote it (PID, Cmdline); a record of another world is
// reported and set aside, never acted on (issue 25).
type Record struct {
	// Version is RecordVersion when written; 0 in records of an xlpt
	// before it (read as version 1 without a boot id).
	Version int    `json:"version"`
	ID      string `json:"id"`
	Op      Op     `json:"op"`
	Domid   uint32 `json:"domid,omitempty"`
	DomName string `json:"domain,omitempty"`
	// DomUUID is the guest's UUID ("" when libxl gave none): a domid
	// reused by another guest is told apart by it and by the name.
	DomUUID string `json:"domain_uuid,omitempty"`
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
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id)
	// of the boot the record was written in; "" where there is none.
	BootID string `json:"boot_id,omitempty"`
	path   string
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
func (r *Record) did(step string) bool { return r.count(step) > 0 }

// count is how many times step is among the steps done.
func (r *Record) count(step string) int {
	n := 0
	for _, d := range r.Done {
		if d == step {
			n++
		}
	}
	return n
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
// whole. It is used under the host lock only; the devices of one command
// may step their records at once (parallel.go), one write at a time.
type Journal struct {
	mu  sync.Mutex // Begin, Step and End: the records and open
	Dir string
	// ProcRoot is where /proc is, for the boot id the records carry
	// ("": none is recorded).
	ProcRoot string
	// afterWrite, when set (tests), runs after each durable write: a
	// simulated crash there stops the process between steps.
	afterWrite func()
	// noSync skips fsync (the crash matrix, where the process dies but
	// the machine does not; thousands of fsyncs would only slow it).
	noSync bool
	clock  Clock // nil: the system clock
	// interrupt, while the host lock is held, says the run was asked to
	// stop (SIGINT, SIGTERM): a Begin with no operation open writes
	// nothing, and a Step of an attach or detach stops the operation
	// after recording its step, for its undo to run (see interrupt.go).
	interrupt func() error
	open      int // records begun and not ended in this run
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
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.interrupt != nil && j.open == 0 {
		if err := j.interrupt(); err != nil {
			return err // nothing begun, nothing to undo
		}
	}
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.Time = time.Now().UTC()
	if j.clock != nil {
		r.Time = j.clock.Now().UTC()
	}
	r.PID = os.Getpid()
	r.Version = RecordVersion
	r.BootID = BootID(j.ProcRoot)
	if r.Cmdline == "" {
		r.Cmdline = strings.Join(os.Args, " ")
	}
	r.ID = fmt.Sprintf("%d-%d-%s", r.Time.UnixNano(), r.PID, r.Op)
	r.path = filepath.Join(j.Dir, r.ID+".json")
	if r.Done == nil {
		r.Done = []string{}
	}
	if err := j.write(r); err != nil {
		return err
	}
	j.open++
	return nil
}

// Step records that a step completed.
func (j *Journal) Step(r *Record, step string) error {
	if j == nil || r == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	r.Done = append(r.Done, step)
	if err := j.write(r); err != nil {
		return err
	}
	if j.interrupt != nil && interruptible(r.Op) {
		return j.interrupt()
	}
	return nil
}

// interruptible says whether a signal stops an operation at its next
// step (to be undone: an attach is all or none, a detach leaves each
// function where it is), or lets it finish (a hide, a give-back, an
// SR-IOV change, a restore: what recovery finishes forward too).
func interruptible(op Op) bool { return op == OpAttach || op == OpDetach }

// End removes the record: the operation finished (or rolled back).
func (j *Journal) End(r *Record) error {
	if j == nil || r == nil || r.path == "" {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.open > 0 {
		j.open--
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return j.syncDir(j.Dir)
}

// Pending lists the records left in the journal, oldest first, leaving
// out those that cannot be read as records (Open lists them). Under the
// host lock every one of them belongs to a run that died, or to another
// world (another boot, a live run: recovery tells).
func (j *Journal) Pending() ([]*Record, error) {
	recs, _, err := j.Open()
	return recs, err
}

// Unreadable is a journal file that is not a record this xlpt can act
// on: corrupt, truncated, of a newer format, of an unknown operation.
type Unreadable struct {
	Path string
	Err  error
}

// Open lists the records left in the journal, oldest first, and the
// files that cannot be read as records (each read and checked as
// untrusted input: Record.Check).
func (j *Journal) Open() (recs []*Record, bad []Unreadable, err error) {
	if j == nil {
		return nil, nil, nil
	}
	ents, err := os.ReadDir(j.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(j.Dir, e.Name())
		r, err := readRecord(p)
		if err != nil {
			bad = append(bad, Unreadable{Path: p, Err: err})
			continue
		}
		r.path = p
		recs = append(recs, r)
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].Time.Before(recs[b].Time) })
	return recs, bad, nil
}

// maxRecordBytes bounds a record read back: the largest xlpt writes (a
// restore's, a group's) is a few kilobytes.
const maxRecordBytes = 1 << 20

// readRecord reads and checks one record file, without following a
// symlink planted in its place.
func readRecord(p string) (*Record, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordBytes+1))
	if err != nil {
		return nil, err
	}
	return ParseRecord(data)
}

// ParseRecord reads one intent record as untrusted input: JSON of this
// xlpt's format, then Check.
func ParseRecord(data []byte) (*Record, error) {
	if len(data) > maxRecordBytes {
		return nil, fmt.Errorf("over %d bytes: not a record xlpt writes", maxRecordBytes)
	}
	r := &Record{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("not a record (%w)", err)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return r, nil
}

// maxRecordDevices bounds the devices of one record: a guest holds at
// most 256 functions (32 slots of 8), a PF has at most 256 VFs.
const maxRecordDevices = 256

// Check refuses a record recovery could only misread: another format,
// an operation this xlpt does not know (never taken for "make
// assignable"), a device list out of bounds, a stub or driver that is
// not a driver's name, an operation without what it needs.
func (r *Record) Check() error {
	if r.Version < 0 || r.Version > RecordVersion {
		return fmt.Errorf("record version %d: this xlpt reads versions up to %d (written by a newer xlpt?)", r.Version, RecordVersion)
	}
	switch r.Op {
	case OpHide, OpGive, OpAttach, OpDetach, OpSRIOV, OpRestore, OpMigrate:
	default:
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	if len(r.Devices) > maxRecordDevices {
		return fmt.Errorf("%d devices: more than one operation takes (%d)", len(r.Devices), maxRecordDevices)
	}
	if len(r.Done) > 16*maxRecordDevices {
		return fmt.Errorf("%d steps: more than one operation makes", len(r.Done))
	}
	switch r.Stub {
	case "", pcibind.DriverPciback, pcibind.DriverPciStub:
	default:
		return fmt.Errorf("stub driver %q: xlpt hides with %s or %s only", r.Stub, pcibind.DriverPciback, pcibind.DriverPciStub)
	}
	for _, in := range r.Devices {
		if in.Driver != "" && !pcibind.ValidDriverName(in.Driver) {
			return fmt.Errorf("%s: driver %q is not a driver's name (as under /sys/bus/pci/drivers)", in.BDF, in.Driver)
		}
		if in.Vdevfn > 0xff {
			return fmt.Errorf("%s: guest devfn %#x is out of range", in.BDF, in.Vdevfn)
		}
	}
	switch {
	case r.Op == OpSRIOV && r.SRIOV == nil:
		return errors.New("an sriov record without its request")
	case r.Op == OpSRIOV && (r.SRIOV.NumVFs < 0 || r.SRIOV.NumVFs > 0xffff):
		return fmt.Errorf("sriov: %d VFs is out of range", r.SRIOV.NumVFs)
	case r.Op == OpSRIOV && r.SRIOV.Driver != "" && r.SRIOV.Driver != pcibind.DriverPciback && r.SRIOV.Driver != pcibind.DriverPciStub:
		return fmt.Errorf("sriov: driver %q: xlpt hides with %s or %s only", r.SRIOV.Driver, pcibind.DriverPciback, pcibind.DriverPciStub)
	case r.Op == OpMigrate && r.Plan == "":
		return errors.New("a migrate record without its plan")
	case r.Op == OpRestore && r.Dir == "":
		return errors.New("a restore record without its host-setup directory")
	case r.Setup != nil && r.Setup.Dir == "":
		return errors.New("a host-setup edit without its directory")
	}
	if r.Setup != nil {
		for _, e := range r.Setup.Set {
			if err := e.check(); err != nil {
				return fmt.Errorf("host-setup edit: %w", err)
			}
		}
	}
	return nil
}

// quarantineDir is where records that are not acted on are moved, inside
// the journal directory: out of every run's way, kept for the operator.
const quarantineDir = "quarantine"

// SetAside moves a journal file into the quarantine directory, where no
// run reads it again; it returns the new path.
func (j *Journal) SetAside(p string) (string, error) {
	q := filepath.Join(j.Dir, quarantineDir)
	if err := os.MkdirAll(q, 0o700); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	to := filepath.Join(q, filepath.Base(p))
	if err := os.Rename(p, to); err != nil {
		return "", fmt.Errorf("journal: move %s aside: %w", p, err)
	}
	if err := j.syncDir(j.Dir); err != nil {
		return to, err
	}
	return to, j.syncDir(q)
}

// Aside is where SetAside puts p.
func (j *Journal) Aside(p string) string {
	return filepath.Join(j.Dir, quarantineDir, filepath.Base(p))
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
