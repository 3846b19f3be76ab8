package pcibind

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xlpt/xlpt/internal/atomicfile"
	"github.com/xlpt/xlpt/internal/undo"
	"github.com/xlpt/xlpt/xl"
)

// Driver names xlpt hides devices with.
const (
	DriverPciback = "pciback"
	DriverPciStub = "pci-stub"
)

// Sentinel errors callers branch on.
var (
	// ErrDriverNotLoaded: bus/pci/drivers/<name> is missing.
	ErrDriverNotLoaded = errors.New("driver not loaded")
	// ErrDeviceGone: bus/pci/devices/<bdf> is missing.
	ErrDeviceGone = errors.New("no such PCI device")
	// ErrNotBound: a write was accepted (or refused) and the driver link
	// does not show the expected driver.
	ErrNotBound = errors.New("device not bound as expected")
	// ErrNoRecord: no saved original driver to give the device back to.
	ErrNoRecord = errors.New("no record of the original driver")
	// ErrRefused: a safety check refused the change (see Refusals).
	ErrRefused = errors.New("refused")
)

// Method is how a device is moved to a stub driver.
type Method string

const (
	// MethodSlot is libxl's way for pciback: new_slot (when the BDF is
	// not yet in slots), unbind, bind.
	MethodSlot Method = "slot"
	// MethodOverride sets driver_override, unbinds and writes
	// drivers_probe: nothing else can grab the device in between, and
	// no ID is added that would capture identical devices.
	MethodOverride Method = "override"
	// MethodNewID is pci-stub's classic way: new_id "vvvv dddd",
	// unbind, bind (then remove_id, so identical devices unbound
	// later are not captured too).
	MethodNewID Method = "new_id"
)

// Record is the undo record of one hidden device, saved before the first
// change so a later process can give the device back.
type Record struct {
	BDF      xl.PciBdf `json:"bdf"`
	Driver   string    `json:"driver"`   // original driver, "" if none
	Override string    `json:"override"` // original driver_override, "" if none
	Target   string    `json:"target"`   // the stub driver
	Method   Method    `json:"method"`
	Time     time.Time `json:"time"`
	// AddedID is the dynamic ID ("vvvv dddd") this hide gives the stub
	// (new_id), recorded before it is written: a hide that dies before
	// taking it out again leaves it for the next Hide to remove. ""
	// when the ID is the admin's (pci-stub.ids=) or none was added.
	AddedID string `json:"added_id,omitempty"`
}

func (s *Sysfs) recordPath(b xl.PciBdf) string {
	return filepath.Join(s.stateDir, "pci", b.String()+".json")
}

// LoadRecord reads the undo record of a device.
func (s *Sysfs) LoadRecord(b xl.PciBdf) (Record, error) {
	var r Record
	data, err := os.ReadFile(s.recordPath(b))
	if errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("%s: %w (%s)", b, ErrNoRecord, s.recordPath(b))
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", s.recordPath(b), err)
	}
	if err := r.check(b); err != nil {
		return Record{}, fmt.Errorf("%s: %w (check the device by hand, then remove the file)", s.recordPath(b), err)
	}
	return r, nil
}

// check refuses a record read back that xlpt could not have written for
// b: the drivers it names become sysfs paths (issue 25).
func (r Record) check(b xl.PciBdf) error {
	switch {
	case r.BDF != b:
		return fmt.Errorf("the record is of %s, not %s", r.BDF, b)
	case r.Driver != "" && !ValidDriverName(r.Driver):
		return fmt.Errorf("driver %q is not a driver's name", r.Driver)
	case r.Override != "" && !ValidDriverName(r.Override):
		return fmt.Errorf("driver_override %q is not a driver's name", r.Override)
	case r.Target != DriverPciback && r.Target != DriverPciStub && r.Target != "xen-pciback":
		return fmt.Errorf("stub %q: xlpt hides with %s or %s", r.Target, DriverPciback, DriverPciStub)
	case r.Method != "" && r.Method != MethodSlot && r.Method != MethodOverride && r.Method != MethodNewID:
		return fmt.Errorf("method %q is not one of xlpt's", r.Method)
	}
	if r.AddedID != "" {
		var v, d uint16
		if n, err := fmt.Sscanf(r.AddedID, "%04x %04x", &v, &d); n != 2 || err != nil || fmt.Sprintf("%04x %04x", v, d) != r.AddedID {
			return fmt.Errorf("added_id %q is not \"vvvv dddd\"", r.AddedID)
		}
	}
	return nil
}

// saveRecord writes the record atomically and durably.
func (s *Sysfs) saveRecord(r Record) error {
	p := s.recordPath(r.BDF)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p, append(data, '\n'), true)
}

func (s *Sysfs) removeRecord(b xl.PciBdf) error {
	err := os.Remove(s.recordPath(b))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// CurrentDriver reads the device's driver link ("" when unbound).
func (s *Sysfs) CurrentDriver(b xl.PciBdf) (string, error) {
	dev := "bus/pci/devices/" + b.String()
	if _, err := os.Lstat(s.Path(dev)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", b, ErrDeviceGone)
		}
		return "", err
	}
	tgt, err := s.Readlink(dev + "/driver")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return path.Base(tgt), nil
}

// DriverLoaded reports whether bus/pci/drivers/<name> exists: name is a
// driver's name (ValidDriverName) and the kernel has that driver.
func (s *Sysfs) DriverLoaded(name string) bool {
	if !ValidDriverName(name) {
		return false
	}
	st, err := os.Stat(s.Path("bus/pci/drivers/" + name))
	return err == nil && st.IsDir()
}

// ValidDriverName says whether name can be a PCI driver's name, one
// entry of /sys/bus/pci/drivers: letters, digits and "_-.+:", no path.
// A driver named in a record or a file xlpt reads back is checked with
// it before it becomes part of a path (issue 25: "../../devices/x").
func ValidDriverName(name string) bool {
	if name == "" || len(name) > 64 || name == "." || name == ".." {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("_-.+:", c):
		default:
			return false
		}
	}
	return true
}

func (s *Sysfs) needDriver(name string) error {
	if s.DriverLoaded(name) {
		return nil
	}
	mod := name
	switch name {
	case DriverPciback:
		mod = "xen-pciback"
	case DriverPciStub:
		mod = "pci-stub"
	}
	return fmt.Errorf("%w: %s (no %s; try: modprobe %s)", ErrDriverNotLoaded, name, s.Path("bus/pci/drivers/"+name), mod)
}

// readOverride returns driver_override ("" for "(null)" or a kernel
// without the file).
func (s *Sysfs) readOverride(b xl.PciBdf) string {
	v, err := s.ReadFile("bus/pci/devices/" + b.String() + "/driver_override")
	if err != nil {
		return ""
	}
	o := trim(v)
	if o == "(null)" {
		return ""
	}
	return o
}

// PcibackSlots lists pciback's slots file.
func (s *Sysfs) PcibackSlots() ([]xl.PciBdf, error) {
	data, err := s.ReadFile("bus/pci/drivers/pciback/slots")
	if err != nil {
		return nil, err
	}
	var out []xl.PciBdf
	for _, l := range strings.Split(string(data), "\n") {
		if b, err := ParseSysfsBdf(strings.TrimSpace(l)); err == nil {
			out = append(out, b)
		}
	}
	return out, nil
}

func (s *Sysfs) inSlots(b xl.PciBdf) (bool, error) {
	slots, err := s.PcibackSlots()
	if err != nil {
		return false, err
	}
	for _, x := range slots {
		if x == b {
			return true, nil
		}
	}
	return false, nil
}

// expectDriver checks the driver link after a write: the write's error
// alone does not say what happened (a double bind gives EBUSY on current
// kernels and ENODEV on old ones, and some refusals come late), the link
// does.
func (s *Sysfs) expectDriver(b xl.PciBdf, want string, werr error) error {
	got, err := s.CurrentDriver(b)
	if err != nil {
		return errors.Join(err, werr)
	}
	if got == want {
		return nil
	}
	what := "unbound"
	if got != "" {
		what = "bound to " + got
	}
	if werr != nil {
		return fmt.Errorf("%s is %s: %w", b, what, werr)
	}
	return fmt.Errorf("%s is %s: %w", b, what, ErrNotBound)
}

// Hide moves a device to a stub driver (pciback or pci-stub) by method
// ("": pciback's new_slot; for pci-stub driver_override where the kernel
// has it, else new_id), saving its original driver first. Already bound to target counts as
// success. Each step registers its undo before it writes (a write can take
// effect and still report an error), and every undo checks the state
// before acting, so on any failure the device ends with the driver,
// override and slots it had.
func (s *Sysfs) Hide(b xl.PciBdf, target string, m Method) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("hide %s with %s: %w", b, target, retErr)
		}
	}()
	if err := s.needDriver(target); err != nil {
		return err
	}
	cur, err := s.CurrentDriver(b)
	if err != nil {
		return err
	}
	if cur == target {
		// Idempotent, as libxl's "already assigned to pciback"; a hide
		// that died on the last step left its dynamic ID.
		return s.dropAddedID(b, func(rec Record) bool { return rec.Target != target })
	}
	if m == "" && target != DriverPciback && s.hasOverride(b) {
		// As driverctl does: driver_override binds exactly this device,
		// where new_id would catch every unbound device of the same
		// vendor:device until remove_id (kernels since 3.16 have it).
		m = MethodOverride
	}
	if m, err = hideMethod(target, m); err != nil {
		return err
	}
	// A hide by new_id that died left its dynamic ID (the record names
	// it); a hide that will not add that same ID again, driver_override's
	// above all, takes it out first, or the stub would keep catching
	// every unbound device of that vendor:device.
	if err := s.dropAddedID(b, func(rec Record) bool { return m == MethodNewID && rec.Target == target }); err != nil {
		return err
	}
	var u undo.Stack
	defer u.RunOnError(&retErr, nil)
	rec, err := s.saveHideRecord(&u, b, cur, target, m)
	if err != nil {
		return err
	}
	id, err := s.openTarget(&u, &rec, target, m)
	if err != nil {
		return err
	}
	now, err := s.unbindCurrent(&u, b, cur, target, rec.Override)
	if err != nil {
		return err
	}
	if now != target {
		if err := s.bindTarget(b, target, m); err != nil {
			return err
		}
	}
	// pci-stub: drop the ID again so identical devices unbound later are
	// not captured too. A failure undoes the whole hide, keeping the host
	// as it was rather than half-tidied.
	if id != "" {
		if err := s.removeID(target, id); err != nil {
			return err
		}
		rec.AddedID = ""
		return s.saveRecord(rec)
	}
	return nil
}

// hasOverride says whether the kernel has driver_override for b.
func (s *Sysfs) hasOverride(b xl.PciBdf) bool {
	_, err := os.Stat(s.Path("bus/pci/devices/" + b.String() + "/driver_override"))
	return err == nil
}

// hideMethod checks m against target; "" picks the target's usual way
// (Hide has already picked driver_override for pci-stub where the
// kernel has it).
func hideMethod(target string, m Method) (Method, error) {
	if m == "" {
		m = MethodSlot
		if target != DriverPciback {
			m = MethodNewID
		}
	}
	if m == MethodSlot && target != DriverPciback {
		return m, fmt.Errorf("method %q is pciback's only", m)
	}
	if m != MethodSlot && m != MethodOverride && m != MethodNewID {
		return m, fmt.Errorf("unknown method %q", m)
	}
	return m, nil
}

// saveHideRecord is step 1: the undo record, before anything changes. An
// existing record (from a hide whose give-back never ran) keeps the real
// original.
func (s *Sysfs) saveHideRecord(u *undo.Stack, b xl.PciBdf, cur, target string, m Method) (Record, error) {
	rec := Record{BDF: b, Driver: cur, Override: s.readOverride(b), Target: target, Method: m, Time: time.Now().UTC()}
	old, err := s.LoadRecord(b)
	hadRecord := err == nil
	if hadRecord {
		rec.Driver, rec.Override, rec.AddedID = old.Driver, old.Override, old.AddedID
	}
	if err := s.saveRecord(rec); err != nil {
		return rec, fmt.Errorf("save original driver: %w", err)
	}
	u.Push("record", func() error {
		if hadRecord {
			return s.saveRecord(old)
		}
		return s.removeRecord(b)
	})
	return rec, nil
}

// openTarget is step 2: make the target willing to take this device. It
// returns the dynamic ID it added (new_id), which the caller removes.
func (s *Sysfs) openTarget(u *undo.Stack, rec *Record, target string, m Method) (string, error) {
	b, override := rec.BDF, rec.Override
	switch m {
	case MethodSlot:
		in, err := s.inSlots(b)
		if err != nil || in {
			// Writing a BDF already in slots adds a duplicate entry.
			return "", err
		}
		u.Push("remove_slot", func() error { return s.removeSlot(b) })
		return "", s.writeAttr("bus/pci/drivers/pciback/new_slot", b.String())
	case MethodOverride:
		u.Push("driver_override", func() error { return s.restoreOverride(b, override) })
		return "", s.writeAttr("bus/pci/devices/"+b.String()+"/driver_override", target)
	}
	id, err := s.idPair(b)
	if err != nil {
		return "", err
	}
	ours := rec.AddedID == id // a hide of this device that died added it
	if !ours {
		rec.AddedID = id
		if err := s.saveRecord(*rec); err != nil {
			return "", fmt.Errorf("save original driver: %w", err)
		}
	}
	added := true
	u.Push("remove_id", func() error {
		if !added {
			return nil
		}
		return s.removeID(target, id)
	})
	err = s.writeAttr("bus/pci/drivers/"+target+"/new_id", id)
	if errors.Is(err, fs.ErrExist) && !ours {
		added = false // the admin's ID (pci-stub.ids=): leave it alone
		rec.AddedID = ""
		return "", s.saveRecord(*rec)
	}
	if errors.Is(err, fs.ErrExist) {
		err = nil
	}
	return id, err
}

// dropAddedID takes out the dynamic ID a hide of b that died added to
// its record's target, if the record names one and keep does not say to
// leave it.
func (s *Sysfs) dropAddedID(b xl.PciBdf, keep func(Record) bool) error {
	rec, err := s.LoadRecord(b)
	if err != nil || rec.AddedID == "" || keep(rec) {
		return nil
	}
	if err := s.removeID(rec.Target, rec.AddedID); err != nil {
		return err
	}
	rec.AddedID = ""
	return s.saveRecord(rec)
}

// unbindCurrent is step 3: unbind from the current driver. new_id may
// already have moved an unbound device; the link says, and is returned.
func (s *Sysfs) unbindCurrent(u *undo.Stack, b xl.PciBdf, cur, target, override string) (string, error) {
	now, err := s.CurrentDriver(b)
	if err != nil {
		return "", err
	}
	switch {
	case now != "" && now != target:
		u.Push("rebind "+now, func() error { return s.rebind(b, now, override) })
		werr := s.writeAttr("bus/pci/drivers/"+now+"/unbind", b.String())
		return now, s.expectDriver(b, "", werr)
	case now == "" && cur != "":
		// Someone else unbound it meanwhile; undo puts it back.
		u.Push("rebind "+cur, func() error { return s.rebind(b, cur, override) })
	}
	return now, nil
}

// bindTarget is step 4: bind to the target.
func (s *Sysfs) bindTarget(b xl.PciBdf, target string, m Method) error {
	var werr error
	if m == MethodOverride {
		werr = s.writeAttr("bus/pci/drivers_probe", b.String())
	} else {
		werr = s.writeAttr("bus/pci/drivers/"+target+"/bind", b.String())
	}
	return s.expectDriver(b, target, werr)
}

// Rebind puts a device on drv ("" leaves it unbound), whatever holds it
// now, keeping its driver_override. Recovery uses it to finish a give-back
// that died after the unbind.
func (s *Sysfs) Rebind(b xl.PciBdf, drv string) error {
	return s.rebind(b, drv, s.readOverride(b))
}

// RemoveSlot drops b from pciback's slots if it is there (and pciback is
// loaded), so pciback does not claim it on a later probe.
func (s *Sysfs) RemoveSlot(b xl.PciBdf) error {
	if !s.DriverLoaded(DriverPciback) {
		return nil
	}
	return s.removeSlot(b)
}

// removeSlot drops b from pciback's slots if it is there.
func (s *Sysfs) removeSlot(b xl.PciBdf) error {
	in, err := s.inSlots(b)
	if err != nil || !in {
		return err
	}
	return s.writeAttr("bus/pci/drivers/pciback/remove_slot", b.String())
}

// addSlot puts b in pciback's slots if it is not there.
func (s *Sysfs) addSlot(b xl.PciBdf) error {
	in, err := s.inSlots(b)
	if err != nil || in {
		return err
	}
	return s.writeAttr("bus/pci/drivers/pciback/new_slot", b.String())
}

// removeID removes a dynamic ID; one already gone is fine.
func (s *Sysfs) removeID(driver, id string) error {
	err := s.writeAttr("bus/pci/drivers/"+driver+"/remove_id", id)
	if errors.Is(err, syscall.ENODEV) {
		return nil
	}
	return err
}

// restoreOverride writes back a saved driver_override ("" clears it).
func (s *Sysfs) restoreOverride(b xl.PciBdf, prev string) error {
	if s.readOverride(b) == prev {
		return nil
	}
	v := prev
	if v == "" {
		v = "\n" // the kernel clears the override on an empty write
	}
	return s.writeAttr("bus/pci/devices/"+b.String()+"/driver_override", v)
}

// rebind puts a device back on drv (after restoring the override, which
// would otherwise stop drv from matching), unbinding whatever holds it.
func (s *Sysfs) rebind(b xl.PciBdf, drv, override string) error {
	bdf := b.String()
	if err := s.restoreOverride(b, override); err != nil {
		return err
	}
	cur, err := s.CurrentDriver(b)
	if err != nil {
		return err
	}
	if cur == drv {
		return nil
	}
	if cur != "" {
		werr := s.writeAttr("bus/pci/drivers/"+cur+"/unbind", bdf)
		if err := s.expectDriver(b, "", werr); err != nil {
			return err
		}
	}
	if drv == "" {
		return nil
	}
	werr := s.writeAttr("bus/pci/drivers/"+drv+"/bind", bdf)
	if err := s.expectDriver(b, drv, werr); err != nil {
		// bind needs an ID match; a probe finds the driver by the
		// device's own IDs instead.
		werr2 := s.writeAttr("bus/pci/drivers_probe", bdf)
		if err2 := s.expectDriver(b, drv, werr2); err2 != nil {
			return errors.Join(err, err2)
		}
	}
	return nil
}

// idPair is new_id's "vvvv dddd".
func (s *Sysfs) idPair(b xl.PciBdf) (string, error) {
	dev := "bus/pci/devices/" + b.String()
	v, err := s.ReadFile(dev + "/vendor")
	if err != nil {
		return "", err
	}
	d, err := s.ReadFile(dev + "/device")
	if err != nil {
		return "", err
	}
	vv, err1 := parseHex(v, 16)
	dd, err2 := parseHex(d, 16)
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("%s IDs: %w", b, err)
	}
	return fmt.Sprintf("%04x %04x", vv, dd), nil
}

// GiveBack returns a hidden device to the driver saved when it was
// hidden, tidies pciback's slots and forgets the record. On failure the
// device is put back on the stub driver it came from (slot and override
// included), so it is never left without a driver.
func (s *Sysfs) GiveBack(b xl.PciBdf) (retErr error) {
	defer func() {
		if retErr != nil {
			retErr = fmt.Errorf("give back %s: %w", b, retErr)
		}
	}()
	rec, err := s.LoadRecord(b)
	if err != nil {
		return err
	}
	cur, err := s.CurrentDriver(b)
	if err != nil {
		return err
	}
	bdf := b.String()
	stubOverride := s.readOverride(b)
	var u undo.Stack
	defer u.RunOnError(&retErr, nil)
	if cur != "" && cur != rec.Driver {
		stub := cur
		u.Push("rebind "+stub, func() error { return s.rebind(b, stub, stubOverride) })
		werr := s.writeAttr("bus/pci/drivers/"+cur+"/unbind", bdf)
		if err := s.expectDriver(b, "", werr); err != nil {
			return err
		}
	}
	// The slot goes before the original driver comes back: pciback
	// would otherwise still claim the device on any later probe.
	if s.DriverLoaded(DriverPciback) {
		in, err := s.inSlots(b)
		if err != nil {
			return err
		}
		if in {
			u.Push("new_slot", func() error { return s.addSlot(b) })
			if err := s.writeAttr("bus/pci/drivers/pciback/remove_slot", bdf); err != nil {
				return err
			}
		}
	}
	if rec.Driver != "" && cur != rec.Driver {
		if err := s.rebind(b, rec.Driver, rec.Override); err != nil {
			return err
		}
	} else if err := s.restoreOverride(b, rec.Override); err != nil {
		return err
	}
	return s.removeRecord(b)
}
