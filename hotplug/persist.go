package hotplug

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/internal/atomicfile"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// PersistFileName is the host-setup file inside the config directory
// (/etc/xlpt by default).
const PersistFileName = "devices.conf"

// persistHeader documents the format at the top of every file written.
const persistHeader = `# xlpt host setup: applied at boot by "xlpt restore" (xlpt-restore.service,
# before xendomains). Written by --persist on pci-assignable-add/-remove and
# sriov enable/disable; safe to edit by hand. One device per line:
#
#   sriov       PF-BDF  VENDOR:DEVICE  vfs=N [autoprobe=0|1]
#   assignable  BDF     VENDOR:DEVICE  [driver=pciback|pci-stub] [name=NAME]
#                                      [vf=PF-BDF/INDEX] [original=DRIVER]
#
# VENDOR:DEVICE is what the device at BDF must be: after a hardware change
# restore refuses the line rather than hide another device. vf= says the
# device is VF INDEX of PF-BDF (its virtfnINDEX link) and is checked too.
# original= is the dom0 driver it had when it was recorded (for the record).
# sriov lines are applied first, then assignable lines.
`

// Kinds of persisted entries.
const (
	PersistSRIOV      = "sriov"
	PersistAssignable = "assignable"
)

// PersistEntry is one line of the host-setup file.
type PersistEntry struct {
	Kind   string    `json:"kind"`
	BDF    xl.PciBdf `json:"bdf"`
	Vendor uint16    `json:"vendor"`
	Device uint16    `json:"device"`
	// sriov
	VFs       int   `json:"vfs,omitempty"`
	Autoprobe *bool `json:"autoprobe,omitempty"`
	// assignable
	Driver   string     `json:"driver,omitempty"`
	Name     string     `json:"name,omitempty"`
	Original string     `json:"original,omitempty"`
	PF       *xl.PciBdf `json:"pf,omitempty"`
	VFIndex  int        `json:"vf_index,omitempty"`
	Line     int        `json:"line,omitempty"` // where it was read, for messages
}

// ID is the recorded "vvvv:dddd".
func (e PersistEntry) ID() string { return fmt.Sprintf("%04x:%04x", e.Vendor, e.Device) }

// String is the entry's line in canonical form.
func (e PersistEntry) String() string {
	f := []string{fmt.Sprintf("%-10s  %s  %s", e.Kind, e.BDF, e.ID())}
	switch e.Kind {
	case PersistSRIOV:
		f = append(f, "vfs="+strconv.Itoa(e.VFs))
		if e.Autoprobe != nil {
			f = append(f, "autoprobe="+map[bool]string{true: "1", false: "0"}[*e.Autoprobe])
		}
	case PersistAssignable:
		f = append(f, "driver="+e.driverOr())
		if e.Name != "" {
			f = append(f, "name="+e.Name)
		}
		if e.PF != nil {
			f = append(f, fmt.Sprintf("vf=%s/%d", e.PF, e.VFIndex))
		}
		if e.Original != "" {
			f = append(f, "original="+e.Original)
		}
	}
	return strings.Join(f, " ")
}

func (e PersistEntry) driverOr() string {
	if e.Driver == "" {
		return pcibind.DriverPciback
	}
	return e.Driver
}

// ErrHostSetup marks a host-setup file that cannot be read as written:
// nothing was changed when it is returned.
var ErrHostSetup = errors.New("malformed host setup")

// setupError is a host-setup file that could not be read.
type setupError struct{ err error }

func (e *setupError) Error() string        { return "host setup: " + e.err.Error() }
func (e *setupError) Unwrap() error        { return e.err }
func (e *setupError) Is(target error) bool { return target == ErrHostSetup }

// loadSetup reads the host setup of the service's config directory;
// a file it cannot read is ErrHostSetup.
func (s *Service) loadSetup() (*PersistFile, error) {
	p, err := LoadPersist(s.configDir)
	if err != nil {
		return nil, &setupError{err}
	}
	return p, nil
}

// setupIf is loadSetup when persist is asked for (nil else), before
// anything changes, so a malformed file refuses the command.
func (s *Service) setupIf(persist bool) (*PersistFile, error) {
	if !persist {
		return nil, nil
	}
	return s.loadSetup()
}

// PersistFile is the host-setup file: where it lives and its entries.
type PersistFile struct {
	Path    string
	Entries []PersistEntry
}

// LoadPersist reads dir/devices.conf; a missing file is an empty setup.
// A bad line refuses the file (for an edit, which would drop it).
func LoadPersist(dir string) (*PersistFile, error) {
	pf, bad, err := LoadPersistLenient(dir)
	if err == nil && len(bad) > 0 {
		err = bad[0]
	}
	return pf, err
}

// LoadPersistLenient reads dir/devices.conf as restore does: the lines
// that cannot be read are left out and returned in bad.
func LoadPersistLenient(dir string) (pf *PersistFile, bad []error, err error) {
	pf = &PersistFile{Path: filepath.Join(dir, PersistFileName)}
	data, err := readBounded(pf.Path, maxPersistBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return pf, nil, nil
	}
	if err != nil {
		return pf, nil, err
	}
	pf.Entries, bad = parsePersist(pf.Path, data)
	return pf, bad, nil
}

// readBounded reads a file of at most max bytes (one byte more says it
// is longer).
func readBounded(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max+1))
}

// ParsePersist parses the host-setup format; errors name file and line.
// An edit (--persist) refuses a file with a bad line: saving it would
// drop the line.
func ParsePersist(name string, data []byte) ([]PersistEntry, error) {
	out, bad := parsePersist(name, data)
	if len(bad) > 0 {
		return nil, bad[0]
	}
	return out, nil
}

// maxPersistBytes bounds the host-setup file read: a line is ~100 bytes,
// a host has a few thousand functions at most.
const maxPersistBytes = 4 << 20

// parsePersist parses every line it can; bad lists the others (each
// naming file and line), which are left out.
func parsePersist(name string, data []byte) (out []PersistEntry, bad []error) {
	if len(data) > maxPersistBytes {
		return nil, []error{fmt.Errorf("%s: over %d bytes: not a host setup xlpt writes", name, maxPersistBytes)}
	}
	seen := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		e, err := parseEntry(f)
		if err != nil {
			bad = append(bad, fmt.Errorf("%s:%d: %w", name, n+1, err))
			continue
		}
		e.Line = n + 1
		key := e.Kind + " " + e.BDF.String()
		if prev, dup := seen[key]; dup {
			bad = append(bad, fmt.Errorf("%s:%d: %s is listed again (first on line %d)", name, n+1, key, prev))
			continue
		}
		seen[key] = n + 1
		out = append(out, e)
	}
	return out, bad
}

func parseEntry(f []string) (PersistEntry, error) {
	var e PersistEntry
	if len(f) < 3 {
		return e, fmt.Errorf("%q: want KIND BDF VENDOR:DEVICE [key=value...]", strings.Join(f, " "))
	}
	e.Kind = f[0]
	if e.Kind != PersistSRIOV && e.Kind != PersistAssignable {
		return e, fmt.Errorf("kind %q: use sriov or assignable", e.Kind)
	}
	b, all, err := xl.ParseBdf(f[1])
	if err != nil || all {
		return e, fmt.Errorf("BDF %q: write one function as 0000:03:00.0", f[1])
	}
	e.BDF = b
	v, d, ok := strings.Cut(f[2], ":")
	vv, err1 := strconv.ParseUint(v, 16, 16)
	dd, err2 := strconv.ParseUint(d, 16, 16)
	if !ok || errors.Join(err1, err2) != nil {
		return e, fmt.Errorf("identity %q: want VENDOR:DEVICE in hex, as lspci -n prints (8086:10d3)", f[2])
	}
	e.Vendor, e.Device = uint16(vv), uint16(dd)
	keys := map[string]bool{}
	for _, kv := range f[3:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return e, fmt.Errorf("%q: want key=value", kv)
		}
		if keys[k] {
			return e, fmt.Errorf("%s= given twice", k)
		}
		keys[k] = true
		if err := e.setKey(k, val); err != nil {
			return e, err
		}
	}
	if e.Kind == PersistSRIOV && !keys["vfs"] {
		return e, fmt.Errorf("sriov %s: vfs=N is missing", e.BDF)
	}
	return e, nil
}

func (e *PersistEntry) setKey(k, val string) error {
	switch {
	case e.Kind == PersistSRIOV && k == "vfs":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 0xffff { // sriov_numvfs is 16 bits
			return fmt.Errorf("vfs=%s: want a count from 1 to 65535 (remove the line to disable VFs)", val)
		}
		e.VFs = n
	case e.Kind == PersistSRIOV && k == "autoprobe":
		if val != "0" && val != "1" {
			return fmt.Errorf("autoprobe=%s: want 0 or 1", val)
		}
		on := val == "1"
		e.Autoprobe = &on
	case e.Kind == PersistAssignable && k == "driver":
		if val != pcibind.DriverPciback && val != pcibind.DriverPciStub {
			return fmt.Errorf("driver=%s: use pciback or pci-stub", val)
		}
		e.Driver = val
	case e.Kind == PersistAssignable && k == "name":
		if err := CheckName(val); err != nil {
			return err
		}
		e.Name = val
	case e.Kind == PersistAssignable && k == "original":
		if !pcibind.ValidDriverName(val) {
			return fmt.Errorf("original=%s: not a driver's name (as under /sys/bus/pci/drivers)", val)
		}
		e.Original = val
	case e.Kind == PersistAssignable && k == "vf":
		p, i, ok := strings.Cut(val, "/")
		b, all, err := xl.ParseBdf(p)
		idx, err2 := strconv.Atoi(i)
		if !ok || err != nil || all || err2 != nil || idx < 0 {
			return fmt.Errorf("vf=%s: want PF-BDF/INDEX (0000:03:00.0/2)", val)
		}
		e.PF, e.VFIndex = &b, idx
	default:
		return fmt.Errorf("%s=: not a setting of %s lines (see the comment at the top of the file)", k, e.Kind)
	}
	return nil
}

// maxNameLen bounds a device's name (-n NAME, name=).
const maxNameLen = 64

// CheckName refuses a device name that the host setup could not keep as
// one word of one line: names are letters, digits and "_-.:+", up to 64
// (a newline in -n NAME once wrote a line of its own, and '#' began a
// comment).
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("name %q: give 1 to %d characters", name, maxNameLen)
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("_-.:+", c):
		default:
			return fmt.Errorf("name %q: %q is not allowed; use letters, digits and _ - . : + (e.g. web-nic1)", name, c)
		}
	}
	return nil
}

// check refuses an entry that read from elsewhere than the file (a
// journal record's host-setup edit) would not be one of the file's lines.
func (e PersistEntry) check() error {
	switch {
	case e.Kind == PersistSRIOV && (e.VFs < 1 || e.VFs > 0xffff):
		return fmt.Errorf("sriov %s: vfs=%d is out of range", e.BDF, e.VFs)
	case e.Kind == PersistSRIOV:
	case e.Kind != PersistAssignable:
		return fmt.Errorf("kind %q: use sriov or assignable", e.Kind)
	case e.Driver != "" && e.Driver != pcibind.DriverPciback && e.Driver != pcibind.DriverPciStub:
		return fmt.Errorf("%s: driver=%s: use pciback or pci-stub", e.BDF, e.Driver)
	case e.Original != "" && !pcibind.ValidDriverName(e.Original):
		return fmt.Errorf("%s: original=%s: not a driver's name", e.BDF, e.Original)
	case e.VFIndex < 0 || e.VFIndex > 0xffff:
		return fmt.Errorf("%s: VF index %d is out of range", e.BDF, e.VFIndex)
	}
	if e.Name != "" {
		return CheckName(e.Name)
	}
	return nil
}

// Set adds e, replacing the entry of the same kind and BDF.
func (p *PersistFile) Set(e PersistEntry) {
	p.Drop(e.Kind, e.BDF)
	e.Line = 0
	p.Entries = append(p.Entries, e)
}

// Drop removes the entry of that kind and BDF; it reports whether there
// was one.
func (p *PersistFile) Drop(kind string, b xl.PciBdf) bool {
	keep := p.Entries[:0]
	found := false
	for _, e := range p.Entries {
		if e.Kind == kind && e.BDF == b {
			found = true
			continue
		}
		keep = append(keep, e)
	}
	p.Entries = keep
	return found
}

// DropVFsOf removes the assignable entries of pf's VFs from index from on.
func (p *PersistFile) DropVFsOf(pf xl.PciBdf, from int) {
	keep := p.Entries[:0]
	for _, e := range p.Entries {
		if e.Kind == PersistAssignable && e.PF != nil && *e.PF == pf && e.VFIndex >= from {
			continue
		}
		keep = append(keep, e)
	}
	p.Entries = keep
}

// ByName finds the assignable entry with that name.
func (p *PersistFile) ByName(name string) (PersistEntry, bool) {
	for _, e := range p.Entries {
		if e.Kind == PersistAssignable && e.Name == name {
			return e, true
		}
	}
	return PersistEntry{}, false
}

// sorted is the order of the file and of restore: sriov lines first (VFs
// must exist before they are hidden), then by BDF.
func (p *PersistFile) sorted() []PersistEntry {
	out := append([]PersistEntry(nil), p.Entries...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == PersistSRIOV
		}
		return out[i].BDF.Less(out[j].BDF)
	})
	return out
}

// Bytes is the file as Save writes it.
func (p *PersistFile) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString(persistHeader)
	for _, e := range p.sorted() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Save writes the file atomically (temp file, fsync, rename), creating
// the directory.
func (p *PersistFile) Save() error {
	dir := filepath.Dir(p.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".devices.conf-")
	if err != nil {
		return err
	}
	_, err = f.Write(p.Bytes())
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p.Path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save %s: %w", p.Path, err)
	}
	// The rename is durable only once the directory is: a crash after a
	// "recorded" must not bring the old file back.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("save %s: sync %s: %w", p.Path, dir, err)
	}
	return nil
}

// syncDir makes a rename in dir durable (a variable: the test counts).
var syncDir = atomicfile.SyncDir

// NewPersistEntry records the device at b as it is now: its identity and,
// for a VF, its PF and index.
func NewPersistEntry(kind string, b xl.PciBdf, ids *pcibind.Sysfs) (PersistEntry, error) {
	id, err := ids.Identity(b)
	if err != nil {
		return PersistEntry{}, fmt.Errorf("record %s: %w", b, err)
	}
	e := PersistEntry{Kind: kind, BDF: b, Vendor: id.Vendor, Device: id.Device}
	if kind == PersistAssignable && id.PF != nil {
		pf := *id.PF
		e.PF, e.VFIndex = &pf, id.VFIndex
	}
	return e, nil
}

// HideCmdlineSet is the persisted devices that boot-time hiding can take:
// pciback entries that are not VFs (VFs do not exist when pciback loads;
// restore hides them). The rest is said in notes.
func (p *PersistFile) HideCmdlineSet() (set []xl.PciBdf, notes []string) {
	for _, e := range p.sorted() {
		switch {
		case e.Kind != PersistAssignable:
		case e.PF != nil:
			notes = append(notes, fmt.Sprintf("%s is VF %d of %s: VFs appear only when xlpt restore enables them, which also hides them", e.BDF, e.VFIndex, e.PF))
		case e.driverOr() != pcibind.DriverPciback:
			notes = append(notes, fmt.Sprintf("%s is for %s: xen-pciback.hide= cannot take it (xlpt restore hides it)", e.BDF, e.driverOr()))
		default:
			set = append(set, e.BDF)
		}
	}
	return set, notes
}

// RecordSRIOV records that pf should have n VFs (autoprobe as given) and,
// with hidden, that each of vfs should be assignable with driver; entries
// of VFs that n no longer covers go. n == 0 forgets the PF and its VFs.
func (p *PersistFile) RecordSRIOV(pf xl.PciBdf, n int, autoprobe bool, vfs []xl.PciBdf, hidden bool, driver string, ids *pcibind.Sysfs) error {
	p.DropVFsOf(pf, n)
	if n == 0 {
		p.Drop(PersistSRIOV, pf)
		return nil
	}
	e, err := NewPersistEntry(PersistSRIOV, pf, ids)
	if err != nil {
		return err
	}
	e.VFs, e.Autoprobe = n, &autoprobe
	p.Set(e)
	if !hidden {
		return nil
	}
	for _, vf := range vfs {
		ve, err := NewPersistEntry(PersistAssignable, vf, ids)
		if err != nil {
			return err
		}
		ve.Driver = driver
		p.Set(ve)
	}
	return nil
}

// RecordAssignable records that b should be assignable with driver
// (original is the dom0 driver it had).
func (p *PersistFile) RecordAssignable(b xl.PciBdf, driver, name, original string, ids *pcibind.Sysfs) error {
	e, err := newAssignableEntry(b, driver, name, original, ids)
	if err != nil {
		return err
	}
	p.Set(e)
	return nil
}

// newAssignableEntry is the entry that says b should be assignable with
// driver (original: the dom0 driver it had, kept for the record).
func newAssignableEntry(b xl.PciBdf, driver, name, original string, ids *pcibind.Sysfs) (PersistEntry, error) {
	e, err := NewPersistEntry(PersistAssignable, b, ids)
	if err != nil {
		return e, err
	}
	e.Driver, e.Name, e.Original = driver, name, original
	if pcibind.IsStub(original) {
		e.Original = ""
	}
	return e, nil
}

// SetupEdit is a change to the host setup, written into an operation's
// journal record before its first change so that recovery can make it
// when it finishes the operation: entries set (each replacing the entry
// of its kind and BDF) and assignable entries dropped.
type SetupEdit struct {
	Dir  string         `json:"dir"`
	Set  []PersistEntry `json:"set,omitempty"`
	Drop []xl.PciBdf    `json:"drop,omitempty"`
}

// apply makes the edit, atomically (a file it would not change is not
// written); again, it changes nothing. dropped says which of Drop were
// in the file.
func (e *SetupEdit) apply() (p *PersistFile, dropped []bool, err error) {
	if p, err = LoadPersist(e.Dir); err != nil {
		return nil, nil, &setupError{err}
	}
	changed := len(e.Set) > 0
	for _, b := range e.Drop {
		found := p.Drop(PersistAssignable, b)
		dropped = append(dropped, found)
		changed = changed || found
	}
	for _, x := range e.Set {
		p.Set(x)
	}
	if !changed {
		return p, dropped, nil
	}
	return p, dropped, p.Save()
}
