package pcitest

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Kernel is a simulated Linux PCI core for binding tests, in the manner
// of libvirt's virpcimock but in Go: it implements pcibind.AttrWriter
// and applies each write synchronously to a tree made by Generate,
// rewriting the same driver links a real kernel shows, with the errors
// Linux gives:
//
//   - drivers/X/bind: ENODEV for an unknown device or a driver that does
//     not match it (override, ID tables), EBUSY when already bound,
//     the probe's error when the driver refuses (pciback: ENODEV unless
//     the device is in its slots or overridden to it).
//   - drivers/X/unbind: ENODEV unless bound to X.
//   - drivers/pciback/new_slot, remove_slot: EINVAL for a malformed BDF;
//     remove_slot ENOENT when absent; new_slot appends duplicates, as
//     pciback does.
//   - drivers/X/new_id, remove_id: EINVAL when malformed, EEXIST for a
//     known ID, ENODEV removing an unknown one; new_id then binds every
//     unbound matching device.
//   - devices/B/driver_override: sets or clears ("\n") the override.
//   - bus/pci/drivers_probe: ENODEV for an unknown device; binds an
//     unbound device to the override or the first matching driver.
//   - devices/B/sriov_numvfs: ENOENT when the PF has no driver or one
//     without SR-IOV support (pciback, pci-stub), ERANGE beyond total,
//     EBUSY changing a non-zero count to another; creates or removes
//     VFs, probing new VFs when sriov_drivers_autoprobe is 1.
//   - devices/B/sriov_drivers_autoprobe: 0 or 1 (EINVAL otherwise). A VF
//     of a PF with 0 is probed by no driver unless its driver_override
//     is set (pci_device_can_probe): bind and drivers_probe give ENODEV.
//
// Faults are injected per (driver, action) or at the n-th write; any
// other attribute write fails the test.
type Kernel struct {
	Root string
	t    TB

	mu      sync.Mutex
	native  map[string]map[[2]uint16]bool // driver -> static ID table
	dynids  map[string]map[[2]uint16]bool
	faults  map[[2]string]Fault
	nth     map[int]Fault
	Writes  []Write // every write seen, in order
	removed map[xl.PciBdf]bool
}

// TB is the part of testing.TB the kernel reports to.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Write is one attribute write the kernel saw.
type Write struct {
	Attr  string // path relative to the root
	Value string
	Err   error
}

// Fault says how an injected failure behaves.
type Fault struct {
	Err error
	// Applied makes the write take effect and still return Err, as a
	// kernel does when a late step fails after the state changed.
	Applied bool
	// Sticky keeps the fault for every later matching write; otherwise
	// it fires once.
	Sticky bool
}

// NewKernel simulates the kernel for the tree at root. Each device's
// current driver is taken to match it (its static ID table), which is
// how it got bound.
func NewKernel(t TB, root string) *Kernel {
	k := &Kernel{Root: root, t: t, native: map[string]map[[2]uint16]bool{},
		dynids: map[string]map[[2]uint16]bool{}, faults: map[[2]string]Fault{},
		nth: map[int]Fault{}, removed: map[xl.PciBdf]bool{}}
	for _, b := range k.devices() {
		if drv := k.driverOf(b); drv != "" && drv != pcibind.DriverPciback && drv != pcibind.DriverPciStub {
			if k.native[drv] == nil {
				k.native[drv] = map[[2]uint16]bool{}
			}
			k.native[drv][k.ids(b)] = true
		}
	}
	return k
}

// Fail injects a fault for writes of action (bind, unbind, new_slot,
// remove_slot, new_id, remove_id, driver_override, drivers_probe,
// sriov_numvfs) to driver ("" for device and bus attributes).
// A Fault with a nil Err clears the fault.
func (k *Kernel) Fail(driver, action string, f Fault) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f.Err == nil {
		delete(k.faults, [2]string{driver, action})
		return
	}
	k.faults[[2]string{driver, action}] = f
}

// FailNth injects a fault at the n-th write from now on (0-based,
// counting all writes seen so far).
func (k *Kernel) FailNth(n int, f Fault) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f.Err == nil {
		delete(k.nth, n)
		return
	}
	k.nth[n] = f
}

// Driver returns the device's current driver from its link.
func (k *Kernel) Driver(b xl.PciBdf) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.driverOf(b)
}

// Override returns the device's driver_override ("" when unset).
func (k *Kernel) Override(b xl.PciBdf) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.override(b)
}

// Slots returns pciback's slots, duplicates included.
func (k *Kernel) Slots() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.slots()
}

// DynIDs returns a driver's dynamic IDs as "vvvv dddd".
func (k *Kernel) DynIDs(driver string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for id := range k.dynids[driver] {
		out = append(out, fmt.Sprintf("%04x %04x", id[0], id[1]))
	}
	sort.Strings(out)
	return out
}

// Remove makes a device vanish (surprise removal).
func (k *Kernel) Remove(b xl.PciBdf) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if drv := k.driverOf(b); drv != "" {
		os.Remove(k.abs("bus/pci/drivers/" + drv + "/" + b.String()))
	}
	dir, err := k.devDir(b)
	if err != nil {
		return err
	}
	k.removed[b] = true
	os.Remove(k.abs("bus/pci/devices/" + b.String()))
	return os.RemoveAll(dir)
}

// UnloadDriver removes a driver directory (module not loaded).
func (k *Kernel) UnloadDriver(name string) error {
	return os.RemoveAll(k.abs("bus/pci/drivers/" + name))
}

// WriteAttr implements pcibind.AttrWriter.
func (k *Kernel) WriteAttr(p, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	rel, err := filepath.Rel(k.Root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		k.t.Helper()
		k.t.Errorf("pcitest.Kernel: write outside the tree: %s", p)
		return &pcibind.WriteError{Path: p, Value: value, Err: syscall.EACCES}
	}
	n := len(k.Writes)
	driver, action := k.classify(rel)
	err = k.apply(n, driver, action, rel, value)
	k.Writes = append(k.Writes, Write{Attr: rel, Value: value, Err: err})
	if err != nil {
		return &pcibind.WriteError{Path: p, Value: value, Err: err}
	}
	return nil
}

// classify names the (driver, action) of an attribute path.
func (k *Kernel) classify(rel string) (driver, action string) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	switch {
	case len(parts) == 5 && parts[0] == "bus" && parts[1] == "pci" && parts[2] == "drivers":
		return parts[3], parts[4]
	case len(parts) == 3 && parts[0] == "bus" && parts[1] == "pci":
		return "", parts[2]
	case len(parts) >= 2 && parts[len(parts)-2] != "" && isBdf(parts[len(parts)-2]):
		return "", parts[len(parts)-1]
	}
	return "", rel
}

func isBdf(s string) bool { _, err := pcibind.ParseSysfsBdf(s); return err == nil }

func (k *Kernel) apply(n int, driver, action, rel, value string) error {
	f, faulted := k.nth[n]
	if faulted {
		delete(k.nth, n)
	} else if f, faulted = k.faults[[2]string{driver, action}]; faulted && !f.Sticky {
		delete(k.faults, [2]string{driver, action})
	}
	if faulted && !f.Applied {
		return f.Err
	}
	err := k.do(driver, action, rel, value)
	if faulted && err == nil {
		return f.Err
	}
	return err
}

func (k *Kernel) do(driver, action, rel, value string) error {
	v := strings.TrimSpace(value)
	if driver != "" {
		if _, err := os.Stat(k.abs("bus/pci/drivers/" + driver)); err != nil {
			return syscall.ENOENT // no such attribute: the driver is not loaded
		}
		switch action {
		case "bind":
			return k.bind(driver, v)
		case "unbind":
			b, err := pcibind.ParseSysfsBdf(v)
			if err != nil || k.driverOf(b) != driver {
				return syscall.ENODEV
			}
			return k.unlink(b, driver)
		case "new_slot", "remove_slot":
			if driver != pcibind.DriverPciback {
				break
			}
			b, err := pcibind.ParseSysfsBdf(v)
			if err != nil {
				return syscall.EINVAL
			}
			slots := k.slots()
			if action == "new_slot" {
				return k.writeSlots(append(slots, b.String()))
			}
			var keep []string
			for _, s := range slots {
				if s != b.String() {
					keep = append(keep, s)
				}
			}
			if len(keep) == len(slots) {
				return syscall.ENOENT
			}
			return k.writeSlots(keep)
		case "new_id", "remove_id":
			id, err := parseID(v)
			if err != nil {
				return syscall.EINVAL
			}
			if action == "remove_id" {
				if !k.dynids[driver][id] {
					return syscall.ENODEV
				}
				delete(k.dynids[driver], id)
				return nil
			}
			if k.dynids[driver][id] {
				return syscall.EEXIST
			}
			if k.dynids[driver] == nil {
				k.dynids[driver] = map[[2]uint16]bool{}
			}
			k.dynids[driver][id] = true
			// driver_attach: every unbound device that now matches.
			for _, b := range k.devices() {
				if k.driverOf(b) == "" && k.matches(driver, b) {
					_ = k.probe(driver, b)
				}
			}
			return nil
		}
		k.t.Helper()
		k.t.Errorf("pcitest.Kernel: unhandled write %q to %s", v, rel)
		return syscall.EPERM
	}
	switch action {
	case "drivers_probe":
		b, err := pcibind.ParseSysfsBdf(v)
		if err != nil || !k.exists(b) {
			return syscall.ENODEV
		}
		if k.driverOf(b) != "" {
			return nil
		}
		for _, drv := range k.candidates(b) {
			if k.probe(drv, b) == nil {
				break
			}
		}
		return nil
	case "driver_override":
		b, err := pcibind.ParseSysfsBdf(path.Base(path.Dir(filepath.ToSlash(rel))))
		if err != nil || !k.exists(b) {
			return syscall.ENODEV
		}
		o := strings.TrimRight(value, "\n")
		if o == "" {
			o = "(null)"
		}
		return os.WriteFile(filepath.Join(k.mustDir(b), "driver_override"), []byte(o+"\n"), 0o644)
	case "sriov_numvfs":
		b, err := pcibind.ParseSysfsBdf(path.Base(path.Dir(filepath.ToSlash(rel))))
		if err != nil || !k.exists(b) {
			return syscall.ENODEV
		}
		return k.setNumVFs(b, v)
	case "sriov_drivers_autoprobe":
		b, err := pcibind.ParseSysfsBdf(path.Base(path.Dir(filepath.ToSlash(rel))))
		if err != nil || !k.exists(b) {
			return syscall.ENODEV
		}
		if v != "0" && v != "1" {
			return syscall.EINVAL
		}
		return os.WriteFile(filepath.Join(k.mustDir(b), "sriov_drivers_autoprobe"), []byte(v+"\n"), 0o644)
	}
	k.t.Helper()
	k.t.Errorf("pcitest.Kernel: unhandled write %q to %s", v, rel)
	return syscall.EPERM
}

// bind is bind_store: match, then probe.
func (k *Kernel) bind(driver, v string) error {
	b, err := pcibind.ParseSysfsBdf(v)
	if err != nil || !k.exists(b) || !k.matches(driver, b) {
		return syscall.ENODEV
	}
	if k.driverOf(b) != "" {
		return syscall.EBUSY
	}
	return k.probe(driver, b)
}

// matches is pci_bus_match: an override decides alone; else the dynamic
// then static ID tables (pciback's table matches everything).
func (k *Kernel) matches(driver string, b xl.PciBdf) bool {
	if o := k.override(b); o != "" {
		return o == driver
	}
	id := k.ids(b)
	if k.dynids[driver][id] || k.native[driver][id] {
		return true
	}
	return driver == pcibind.DriverPciback
}

// probe is the driver's probe: pciback takes only devices in its slots or
// overridden to it. A VF of a PF with sriov_drivers_autoprobe=0 is probed
// only when its driver_override is set.
func (k *Kernel) probe(driver string, b xl.PciBdf) error {
	if !k.canProbe(b) {
		return syscall.ENODEV
	}
	if driver == pcibind.DriverPciback && k.override(b) != pcibind.DriverPciback {
		found := false
		for _, s := range k.slots() {
			found = found || s == b.String()
		}
		if !found {
			return syscall.ENODEV
		}
	}
	return k.link(b, driver)
}

// canProbe is pci_device_can_probe.
func (k *Kernel) canProbe(b xl.PciBdf) bool {
	tgt, err := os.Readlink(k.abs("bus/pci/devices/" + b.String() + "/physfn"))
	if err != nil || k.override(b) != "" {
		return true
	}
	ap, err := readInt(filepath.Join(k.mustDir(b), tgt, "sriov_drivers_autoprobe"))
	return err != nil || ap != 0
}

// candidates are the drivers drivers_probe tries, in a fixed order.
func (k *Kernel) candidates(b xl.PciBdf) []string {
	ents, _ := os.ReadDir(k.abs("bus/pci/drivers"))
	var out []string
	for _, e := range ents {
		if k.matches(e.Name(), b) {
			out = append(out, e.Name())
		}
	}
	// Native drivers before the catch-all pciback.
	sort.SliceStable(out, func(i, j int) bool { return out[j] == pcibind.DriverPciback && out[i] != pcibind.DriverPciback })
	return out
}

func (k *Kernel) setNumVFs(pf xl.PciBdf, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return syscall.EINVAL
	}
	dir := k.mustDir(pf)
	total, err := readInt(filepath.Join(dir, "sriov_totalvfs"))
	if err != nil {
		return syscall.EIO
	}
	cur, _ := readInt(filepath.Join(dir, "sriov_numvfs"))
	switch drv := k.driverOf(pf); {
	case drv == "" || drv == pcibind.DriverPciback || drv == pcibind.DriverPciStub:
		return syscall.ENOENT // "no driver bound to device; cannot configure SR-IOV"
	case n > total:
		return syscall.ERANGE
	case n == cur:
		return nil
	case cur != 0 && n != 0:
		return syscall.EBUSY
	}
	if n == 0 {
		for i := 0; i < cur; i++ {
			l := filepath.Join(dir, "virtfn"+strconv.Itoa(i))
			tgt, err := os.Readlink(l)
			if err == nil {
				vf, _ := pcibind.ParseSysfsBdf(path.Base(tgt))
				if drv := k.driverOf(vf); drv != "" {
					_ = k.unlink(vf, drv)
				}
				os.Remove(k.abs("bus/pci/devices/" + vf.String()))
				os.RemoveAll(filepath.Join(filepath.Dir(dir), vf.String()))
			}
			os.Remove(l)
		}
	} else {
		off, _ := readInt(filepath.Join(dir, "sriov_offset"))
		stride, _ := readInt(filepath.Join(dir, "sriov_stride"))
		vfdev, _ := os.ReadFile(filepath.Join(dir, "sriov_vf_device"))
		vendor, _ := os.ReadFile(filepath.Join(dir, "vendor"))
		class, _ := os.ReadFile(filepath.Join(dir, "class"))
		cfg := pcibind.SRIOV{VFOffset: uint16(off), VFStride: uint16(stride)}
		rel, _ := filepath.Rel(k.Root, dir)
		parent := filepath.Dir(rel)
		for i := 0; i < n; i++ {
			vf, ok := cfg.VF(pf, i)
			if !ok {
				return syscall.ERANGE
			}
			vrel := parent + "/" + vf.String()
			files := map[string]string{
				"vendor": string(vendor), "device": "0x" + strings.TrimSpace(string(vfdev)) + "\n",
				"class": string(class), "config": string(vfConfig(class)), "irq": "0\n",
				"resource": "", "driver_override": "(null)\n", "reset_method": "flr\n",
			}
			if err := os.MkdirAll(k.abs(vrel), 0o755); err != nil {
				return syscall.EIO
			}
			for name, data := range files {
				if err := os.WriteFile(k.abs(vrel+"/"+name), []byte(data), 0o644); err != nil {
					return syscall.EIO
				}
			}
			for _, l := range [][2]string{{vrel + "/physfn", rel}, {rel + "/virtfn" + strconv.Itoa(i), vrel},
				{"bus/pci/devices/" + vf.String(), vrel}, {vrel + "/subsystem", "bus/pci"}} {
				if err := k.symlink(l[0], l[1]); err != nil {
					return syscall.EIO
				}
			}
			// pci_bus_add_device: probe the new VF (canProbe decides).
			for _, drv := range k.candidates(vf) {
				if k.probe(drv, vf) == nil {
					break
				}
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, "sriov_numvfs"), []byte(strconv.Itoa(n)+"\n"), 0o644)
}

// --- the tree as state ---

func (k *Kernel) abs(rel string) string { return filepath.Join(k.Root, rel) }

func (k *Kernel) devices() []xl.PciBdf {
	ents, _ := os.ReadDir(k.abs("bus/pci/devices"))
	var out []xl.PciBdf
	for _, e := range ents {
		if b, err := pcibind.ParseSysfsBdf(e.Name()); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func (k *Kernel) devDir(b xl.PciBdf) (string, error) {
	return filepath.EvalSymlinks(k.abs("bus/pci/devices/" + b.String()))
}

func (k *Kernel) mustDir(b xl.PciBdf) string {
	d, _ := k.devDir(b)
	return d
}

func (k *Kernel) exists(b xl.PciBdf) bool {
	_, err := k.devDir(b)
	return err == nil
}

func (k *Kernel) driverOf(b xl.PciBdf) string {
	tgt, err := os.Readlink(k.abs("bus/pci/devices/" + b.String() + "/driver"))
	if err != nil {
		return ""
	}
	return path.Base(tgt)
}

func (k *Kernel) override(b xl.PciBdf) string {
	data, err := os.ReadFile(k.abs("bus/pci/devices/" + b.String() + "/driver_override"))
	if err != nil {
		return ""
	}
	o := strings.TrimSpace(string(data))
	if o == "(null)" {
		return ""
	}
	return o
}

func (k *Kernel) ids(b xl.PciBdf) [2]uint16 {
	dir := k.abs("bus/pci/devices/" + b.String())
	v, _ := os.ReadFile(dir + "/vendor")
	d, _ := os.ReadFile(dir + "/device")
	vv, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(v)), "0x"), 16, 16)
	dd, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(d)), "0x"), 16, 16)
	return [2]uint16{uint16(vv), uint16(dd)}
}

func (k *Kernel) slots() []string {
	data, err := os.ReadFile(k.abs("bus/pci/drivers/pciback/slots"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

func (k *Kernel) writeSlots(s []string) error {
	data := strings.Join(s, "\n")
	if len(s) > 0 {
		data += "\n"
	}
	if err := os.WriteFile(k.abs("bus/pci/drivers/pciback/slots"), []byte(data), 0o644); err != nil {
		return syscall.EIO
	}
	return nil
}

func (k *Kernel) symlink(rel, target string) error {
	from := filepath.Dir(k.abs(rel))
	r, err := filepath.Rel(from, k.abs(target))
	if err != nil {
		return err
	}
	return os.Symlink(r, k.abs(rel))
}

// link binds: device/driver and drivers/X/<bdf>, as driver_bound does.
func (k *Kernel) link(b xl.PciBdf, driver string) error {
	dir := k.mustDir(b)
	rel, _ := filepath.Rel(k.Root, dir)
	if err := k.symlink(rel+"/driver", "bus/pci/drivers/"+driver); err != nil {
		return syscall.EIO
	}
	if err := k.symlink("bus/pci/drivers/"+driver+"/"+b.String(), rel); err != nil {
		return syscall.EIO
	}
	return nil
}

func (k *Kernel) unlink(b xl.PciBdf, driver string) error {
	err1 := os.Remove(k.abs("bus/pci/devices/" + b.String() + "/driver"))
	err2 := os.Remove(k.abs("bus/pci/drivers/" + driver + "/" + b.String()))
	if errors.Join(err1, err2) != nil {
		return syscall.EIO
	}
	return nil
}

func parseID(v string) ([2]uint16, error) {
	f := strings.Fields(v)
	if len(f) < 2 || len(f) > 7 {
		return [2]uint16{}, syscall.EINVAL
	}
	a, err1 := strconv.ParseUint(f[0], 16, 16)
	b, err2 := strconv.ParseUint(f[1], 16, 16)
	if errors.Join(err1, err2) != nil {
		return [2]uint16{}, syscall.EINVAL
	}
	return [2]uint16{uint16(a), uint16(b)}, nil
}

func readInt(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// vfConfig is a VF's config space as a real VF reads: all-ones vendor
// and device IDs, the class of the PF's class file, a PCIe capability
// with FLR and MSI-X (VFs interrupt only with MSI or MSI-X).
func vfConfig(classFile []byte) []byte {
	v, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(classFile)), "0x"), 16, 32)
	vf := &Node{Kind: Endpoint, FLR: true, NoPM: true, MSIX: 3}
	return configFor(vf, 0xffff, 0xffff, uint32(v), pcibind.HeaderNormal, false).Bytes()
}

// Native adds an ID to a driver's static table (the kernel's
// MODULE_DEVICE_TABLE), so probes of devices not bound when the kernel
// was made (new VFs) find it.
func (k *Kernel) Native(driver string, vendor, device uint16) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.native[driver] == nil {
		k.native[driver] = map[[2]uint16]bool{}
	}
	k.native[driver][[2]uint16{vendor, device}] = true
}
