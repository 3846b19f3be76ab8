package pcibind

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/xlpt/xlpt/xl"
	"golang.org/x/sys/unix"
)

// BAR is one line of the `resource` file that describes a region.
type BAR struct {
	Index int    `json:"index"` // 0..5 BARs, 6 ROM, 7.. bridge windows or SR-IOV BARs
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	Flags uint64 `json:"flags"`
}

// Size is the region's length in bytes.
func (b BAR) Size() uint64 { return b.End - b.Start + 1 }

// IORESOURCE flags from the kernel's include/linux/ioport.h.
const (
	ResourceIO       = 0x00000100
	ResourceMem      = 0x00000200
	ResourcePrefetch = 0x00002000
	ResourceMem64    = 0x00100000
)

// Device is one PCI function as sysfs shows it.
type Device struct {
	BDF xl.PciBdf `json:"bdf"`
	// Path is the real sysfs path relative to the root, as
	// devices/pci0000:00/0000:00:01.0/0000:01:00.0.
	Path string `json:"path"`

	Vendor    uint16 `json:"vendor"`
	Device    uint16 `json:"device"`
	SubVendor uint16 `json:"subsystem_vendor"`
	SubDevice uint16 `json:"subsystem_device"`
	Class     uint32 `json:"class"`
	Revision  uint8  `json:"revision"`

	VendorName string `json:"vendor_name,omitempty"`
	DeviceName string `json:"device_name,omitempty"`
	ClassName  string `json:"class_name,omitempty"`

	Driver   string `json:"driver"` // "" when unbound
	NUMANode int    `json:"numa_node"`
	IRQ      int    `json:"irq"`
	BARs     []BAR  `json:"bars,omitempty"`

	// ResetMethods is reset_method's list (flr, af_flr, pm, bus, ...);
	// when the kernel has no reset_method file it is ["yes"] if a reset
	// file exists at all.
	ResetMethods []string `json:"reset_methods"`

	// SR-IOV: a PF has TotalVFs > 0 and VFs; a VF has PhysFn.
	TotalVFs int         `json:"sriov_totalvfs,omitempty"`
	NumVFs   int         `json:"sriov_numvfs,omitempty"`
	VFs      []xl.PciBdf `json:"virtfns,omitempty"`
	PhysFn   *xl.PciBdf  `json:"physfn,omitempty"`

	// Parents lists the PCI functions above this one, nearest first,
	// from the real sysfs path.
	Parents []xl.PciBdf `json:"parents"`

	Config Config       `json:"-"`
	Caps   Capabilities `json:"caps"`

	// Unread names what could not be read and why (typically "config:
	// 64 of 256 bytes (need root)"); decoding of what is missing is
	// then incomplete.
	Unread []string `json:"unread,omitempty"`

	idsFromPF bool // a VF whose vendor and device come from its PF
}

// IsVF reports a SR-IOV virtual function.
func (d *Device) IsVF() bool { return d.PhysFn != nil }

// IsPF reports a SR-IOV physical function.
func (d *Device) IsPF() bool { return d.TotalVFs > 0 || d.Caps.SRIOV != nil }

// IsBridge reports class 0x0604 (PCI-to-PCI bridge, incl. PCIe ports).
func (d *Device) IsBridge() bool { return d.Class>>8 == classBridgePCI }

// IsHostBridge reports class 0x0600.
func (d *Device) IsHostBridge() bool { return d.Class>>8 == classBridgeHost }

// ConfigComplete reports whether the whole capability space was read:
// 256 bytes for conventional PCI, 4096 for PCIe.
func (d *Device) ConfigComplete() bool {
	if len(d.Config) >= ConfigSizeExt {
		return true
	}
	return len(d.Config) >= ConfigSizeLegacy && d.Caps.PCIe == nil
}

// HasFLR reports a function-level reset: PCIe or AF FLR, or a VF (for
// which FLR is mandatory), or the kernel lists flr/af_flr.
func (d *Device) HasFLR() bool {
	if d.Caps.FLR() || d.IsVF() {
		return true
	}
	for _, m := range d.ResetMethods {
		if m == "flr" || m == "af_flr" {
			return true
		}
	}
	return false
}

// Host is a view of the host's functions, by BDF: every one (Scan), or
// what rules about a few named ones need, read on demand (Read).
type Host struct {
	Devices []*Device `json:"devices"` // sorted by BDF; for Read, those read so far
	// OutOfRange are functions in PCI segments above ffff (Intel VMD
	// puts its devices at 10000:00:00.0 and up), by sysfs name: Xen and
	// libxl address a segment in 16 bits, so they cannot be passed
	// through, and they are not scanned.
	OutOfRange []string `json:"out_of_range,omitempty"`
	byBDF      map[xl.PciBdf]*Device
	sys        *Sysfs
	groups     map[xl.PciBdf]xl.PciBdf // device -> top bridge of its group
	members    map[xl.PciBdf][]xl.PciBdf
	lazy       *lazy // nil for a full scan
}

// Device returns the function with the given BDF.
func (h *Host) Device(b xl.PciBdf) (*Device, bool) {
	d := h.dev(b)
	return d, d != nil
}

// Sysfs is the view the host was scanned from.
func (h *Host) Sysfs() *Sysfs { return h.sys }

// ErrNoPCI means the root has no bus/pci/devices directory.
var ErrNoPCI = errors.New("no PCI bus in sysfs")

// Scan reads every function under bus/pci/devices. A function whose
// directory vanishes mid-scan (hot removal) is skipped; one that cannot
// be read at all is an error.
func (s *Sysfs) Scan() (*Host, error) {
	ids := s.preloadPciIDs()
	names, outOfRange, err := s.listDevices()
	if err != nil {
		return nil, err
	}
	devsFd, err := openAt(unixAtFdcwd, "", s.Path(devicesDir), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(devsFd)
	devs := make([]*Device, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	next := make(chan int, len(names))
	for i := range names {
		next <- i
	}
	close(next)
	workers := s.workers
	if workers > len(names) {
		workers = len(names)
	}
	configs := newConfigTable()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := reader{s: s, devsFd: devsFd, configs: configs}
			for i := range next {
				devs[i], errs[i] = r.device(names[i])
			}
		}()
	}
	wg.Wait()

	h := &Host{sys: s, byBDF: make(map[xl.PciBdf]*Device, len(names)), OutOfRange: outOfRange}
	for i, d := range devs {
		if errs[i] != nil {
			if errors.Is(errs[i], fs.ErrNotExist) {
				continue // removed while we looked
			}
			return nil, errs[i]
		}
		h.Devices = append(h.Devices, d)
		h.byBDF[d.BDF] = d
	}
	sortDevices(h.Devices)
	// A VF's physfn link is redundant with its PF's virtfn links, which
	// we already read: fill it from there instead of one more readlink
	// per function.
	for _, d := range h.Devices {
		for _, vf := range d.VFs {
			if v, ok := h.byBDF[vf]; ok && v.PhysFn == nil {
				pf := d.BDF
				v.PhysFn = &pf
			}
		}
	}
	// VFs whose PF did not list them (its virtfn links unreadable, or
	// the PF not scanned) ask their own physfn link.
	for _, d := range h.Devices {
		if d.idsFromPF && d.PhysFn == nil {
			d.PhysFn = s.physFn(d.BDF)
		}
		if err := h.vfIDs(d); err != nil {
			return nil, err
		}
	}
	setNames(h.Devices, ids())
	h.computeGroups()
	return h, nil
}

// preloadPciIDs indexes pci.ids on its own goroutine while the scan
// reads, so a full scan does not wait for it afterwards; the returned
// func gives the database (nil without one).
func (s *Sysfs) preloadPciIDs() func() *pciIDs {
	if s.pciIDs == "" {
		return func() *pciIDs { return nil }
	}
	ch := make(chan *pciIDs, 1)
	go func() { ch <- loadPciIDs(s.pciIDs) }()
	return sync.OnceValue(func() *pciIDs { return <-ch })
}

// listDevices returns the entries of bus/pci/devices that are BDFs, and
// apart those whose segment is above ffff.
func (s *Sysfs) listDevices() (names, outOfRange []string, err error) {
	f, err := os.Open(s.Path(devicesDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %w", ErrNoPCI, err)
		}
		return nil, nil, err
	}
	defer f.Close()
	all, err := f.Readdirnames(-1)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range all {
		if _, err := ParseSysfsBdf(n); err == nil {
			names = append(names, n)
		} else if wideSegment(n) {
			outOfRange = append(outOfRange, n)
		}
	}
	sort.Strings(outOfRange)
	return names, outOfRange, nil
}

// wideSegment reports whether a sysfs name is a BDF whose segment has
// more than 4 hex digits (10000:00:00.0).
func wideSegment(n string) bool {
	seg, rest, ok := strings.Cut(n, ":")
	if !ok || len(seg) <= 4 || len(seg) > 8 {
		return false
	}
	if _, err := strconv.ParseUint(seg, 16, 32); err != nil {
		return false
	}
	_, err := ParseSysfsBdf("0000:" + rest)
	return err == nil
}

// reader is one scan worker; it owns a buffer so reads do not allocate.
// It reads relative to an O_PATH descriptor of the device directory, so
// the kernel walks the (deep, symlinked) path once per device rather than
// once per file.
type reader struct {
	s       *Sysfs
	devsFd  int    // bus/pci/devices
	devsDir string // its path, for errors; set on first use
	dfd     int    // the current device
	dir     string
	buf     []byte
	// configs, when set, shares one copy of identical config spaces
	// among the functions of a scan; lastConfig is the one this reader
	// kept last.
	configs    *configTable
	lastConfig Config
	physfn     bool // read each function's physfn link (targeted reads: no PF lists the VF)
	// noVFLinks leaves a PF's virtfn links unread (a targeted read of
	// a PF only for its VFs' IDs).
	noVFLinks bool
}

func (r *reader) read(name string) ([]byte, error) {
	b, err := readFileAt(r.dfd, r.dir, name, r.buf)
	if err == nil {
		r.buf = b
	}
	return b, err
}

func (r *reader) readlink(name string) (string, error) {
	return readlinkAt(r.dfd, r.dir, name)
}

func (r *reader) readHex(name string, bits int) (uint64, error) {
	b, err := r.read(name)
	if err != nil {
		return 0, err
	}
	v, err := parseHex(b, bits)
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", r.dir, name, err)
	}
	return v, nil
}

func (r *reader) readInt(name string) (int, error) {
	b, err := r.read(name)
	if err != nil {
		return 0, err
	}
	if v, ok := parseDecimal(b); ok {
		return v, nil
	}
	v, err := strconv.Atoi(trim(b))
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", r.dir, name, err)
	}
	return v, nil
}

// device reads one function. The config space answers most questions,
// so the other files are read only where it cannot.
func (r *reader) device(name string) (*Device, error) {
	bdf, _ := parseSysfsBdf(name)
	d := &Device{BDF: bdf, NUMANode: -1}
	if r.devsDir == "" {
		r.devsDir = r.s.Path(devicesDir)
	}
	r.dir = r.devsDir + "/" + name
	if err := r.realPath(d, name); err != nil {
		return nil, err
	}
	dfd, err := openAt(r.devsFd, r.devsDir, name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	r.dfd = dfd
	defer syscall.Close(dfd)
	if err := r.config(d); err != nil {
		return nil, err
	}
	r.attrs(d)
	r.sriov(d)
	if r.physfn {
		if tgt, err := r.readlink("physfn"); err == nil {
			if pf, err := ParseSysfsBdf(path.Base(tgt)); err == nil {
				d.PhysFn = &pf
			}
		}
	}
	return d, nil
}

// devicesDir is where sysfs lists every PCI function, as links.
const devicesDir = "bus/pci/devices"

// realPath sets the device's real path and its parents from one readlink,
// resolved lexically (sysfs has no further links on the way), instead of
// EvalSymlinks' lstat per component.
func (r *reader) realPath(d *Device, name string) error {
	tgt, err := readlinkAt(r.devsFd, r.devsDir, name)
	switch {
	case err == nil:
		d.Path = resolveDeviceLink(tgt, r.s.root)
	case errors.Is(err, syscall.EINVAL):
		d.Path = devicesDir + "/" + name // a real directory, as in some recorded trees
	default:
		return err
	}
	d.Parents = parentsFromPath(d.Path)
	return nil
}

// resolveDeviceLink is the path, relative to the root, that a link in
// bus/pci/devices points to. The kernel's links are clean and relative,
// ../../../devices/pci0000:00/...: those are cut, not joined and cleaned
// (a copy each, for every function of a scan).
func resolveDeviceLink(tgt, root string) string {
	if rest, ok := strings.CutPrefix(tgt, "../../../"); ok && strings.HasPrefix(rest, "devices/") && path.Clean(rest) == rest {
		return rest
	}
	if !path.IsAbs(tgt) {
		tgt = path.Join(devicesDir, tgt)
	} else if rel, ok := strings.CutPrefix(tgt, root+"/"); ok {
		tgt = rel
	}
	return strings.TrimPrefix(path.Clean("/"+tgt), "/")
}

// config reads config space and the IDs it holds.
func (r *reader) config(d *Device) error {
	cfg, err := r.read("config")
	switch {
	case err == nil:
		d.Config = r.keepConfig(cfg)
	case errors.Is(err, fs.ErrNotExist):
		return err
	default:
		d.Unread = append(d.Unread, "config: "+errText(err))
	}
	c := d.Config
	d.Caps = c.Decode()
	switch {
	case len(c) < ConfigSizeUser || c.Class() == 0xffffff:
		// An unreadable config leaves us only the files.
		if err := r.idsFromFiles(d); err != nil {
			return err
		}
	case c.VendorID() == 0xffff:
		// A VF: config space reads all-ones vendor and device IDs, the
		// rest is real. The kernel gives a VF its PF's vendor and the
		// PF's SR-IOV VF device ID; vfIDs fills them in from the PF
		// (or, failing that, from the files).
		d.idsFromPF = true
		d.Class = c.Class()
		d.Revision = c.u8(RegRevision)
		d.SubVendor = c.u16(RegSubsysVendor)
		d.SubDevice = c.u16(RegSubsysID)
	default:
		d.Vendor = c.VendorID()
		d.Device = c.DeviceID()
		d.Class = c.Class()
		d.Revision = c.u8(RegRevision)
		if c.HeaderType() == HeaderNormal {
			d.SubVendor = c.u16(RegSubsysVendor)
			d.SubDevice = c.u16(RegSubsysID)
		}
	}
	if len(c) >= ConfigSizeUser && !d.ConfigComplete() {
		want := ConfigSizeLegacy
		if len(c) >= ConfigSizeLegacy {
			want = ConfigSizeExt
		}
		d.Unread = append(d.Unread, fmt.Sprintf("config: %d of %d+ bytes (need root): capabilities beyond the header unknown", len(c), want))
	}
	return nil
}

// keepConfig is configs.keep, trying the last function's config first:
// a PF's VFs come one after another, and an equal compare is cheaper
// than a hash.
func (r *reader) keepConfig(b []byte) Config {
	if r.lastConfig == nil || !bytes.Equal(r.lastConfig, b) {
		r.lastConfig = r.configs.keep(b)
	}
	return r.lastConfig
}

// attrs reads what config space does not say: driver, IRQ, NUMA node,
// regions and reset methods.
func (r *reader) attrs(d *Device) {
	if tgt, err := r.readlink("driver"); err == nil {
		d.Driver = path.Base(tgt)
	} else if !errors.Is(err, fs.ErrNotExist) {
		d.Unread = append(d.Unread, "driver: "+errText(err))
	}
	if v, err := r.readInt("irq"); err == nil {
		d.IRQ = v
	} else if !errors.Is(err, fs.ErrNotExist) {
		d.Unread = append(d.Unread, "irq: "+errText(err))
	}
	if v, err := r.readInt("numa_node"); err == nil {
		d.NUMANode = v
	}
	if b, err := r.read("resource"); err == nil {
		d.BARs, err = parseResource(b)
		if err != nil {
			d.Unread = append(d.Unread, fmt.Sprintf("resource: %v", err))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		d.Unread = append(d.Unread, "resource: "+errText(err))
	}
	r.resetMethods(d)
}

// sriov reads a PF's VF counts and links. The files exist only on PFs;
// look when config says so, or when config was too short to say.
func (r *reader) sriov(d *Device) {
	if d.Caps.SRIOV == nil && len(d.Config) > ConfigSizeLegacy {
		return
	}
	v, err := r.readInt("sriov_totalvfs")
	if err != nil {
		return
	}
	d.TotalVFs = v
	if n, err := r.readInt("sriov_numvfs"); err == nil {
		d.NumVFs = n
	}
	if !r.noVFLinks {
		r.vfLinks(d)
	}
}

// vfLinks reads a PF's virtfn links into VFs.
func (r *reader) vfLinks(d *Device) {
	for i := 0; i < d.NumVFs; i++ {
		tgt, err := r.readlink("virtfn" + strconv.Itoa(i))
		if err != nil {
			break
		}
		if vf, err := ParseSysfsBdf(path.Base(tgt)); err == nil {
			d.VFs = append(d.VFs, vf)
		}
	}
}

// physFn reads a VF's physfn link; nil for a function that is no VF.
func (s *Sysfs) physFn(b xl.PciBdf) *xl.PciBdf {
	tgt, err := s.Readlink("bus/pci/devices/" + b.String() + "/physfn")
	if err != nil {
		return nil
	}
	pf, err := ParseSysfsBdf(path.Base(tgt))
	if err != nil {
		return nil
	}
	return &pf
}

// vfIDs gives a VF whose config space hides its IDs the ones the kernel
// shows: from its PF's SR-IOV capability when the PF was read, else from
// its own vendor and device files.
func (h *Host) vfIDs(d *Device) error {
	if !d.idsFromPF {
		return nil
	}
	var pf *Device
	if d.PhysFn != nil {
		pf = h.byBDF[*d.PhysFn]
	}
	if pf != nil && pf.Caps.SRIOV != nil {
		d.Vendor, d.Device = pf.Vendor, pf.Caps.SRIOV.VFDevice
	} else {
		r := reader{s: h.sys, dfd: unixAtFdcwd, dir: ""}
		dir := h.sys.Path("bus/pci/devices/" + d.BDF.String())
		v, err1 := r.readHex(dir+"/vendor", 16)
		dv, err2 := r.readHex(dir+"/device", 16)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		d.Vendor, d.Device = uint16(v), uint16(dv)
	}
	d.idsFromPF = false
	return nil
}

// names fills in names from pci.ids, when the view has a database.
func (s *Sysfs) names(devs []*Device) {
	if s.pciIDs == "" || len(devs) == 0 {
		return
	}
	setNames(devs, loadPciIDs(s.pciIDs))
}

// setNames fills in names from ids; nil ids gives none.
func setNames(devs []*Device, ids *pciIDs) {
	if ids == nil {
		return
	}
	for _, d := range devs {
		d.VendorName, d.DeviceName = ids.names(d.Vendor, d.Device)
		d.ClassName = ids.className(d.Class)
	}
}

func sortDevices(ds []*Device) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].BDF.Less(ds[j].BDF) })
}

func (r *reader) idsFromFiles(d *Device) error {
	v, err := r.readHex("vendor", 16)
	if err != nil {
		return err
	}
	d.Vendor = uint16(v)
	if v, err := r.readHex("device", 16); err == nil {
		d.Device = uint16(v)
	}
	if v, err := r.readHex("class", 24); err == nil {
		d.Class = uint32(v)
	}
	if v, err := r.readHex("revision", 8); err == nil {
		d.Revision = uint8(v)
	}
	if v, err := r.readHex("subsystem_vendor", 16); err == nil {
		d.SubVendor = uint16(v)
	}
	if v, err := r.readHex("subsystem_device", 16); err == nil {
		d.SubDevice = uint16(v)
	}
	return nil
}

func (r *reader) resetMethods(d *Device) {
	b, err := r.read("reset_method")
	if err == nil {
		d.ResetMethods = strings.Fields(string(b))
		return
	}
	if !errors.Is(err, fs.ErrNotExist) {
		d.Unread = append(d.Unread, "reset_method: "+errText(err))
		return
	}
	// Kernels before 5.15 have only the write-only reset file, present
	// when some reset works.
	if existsAt(r.dfd, "reset") {
		d.ResetMethods = []string{"yes"}
	}
}

// parseResource reads the resource file: one "start end flags" line per
// region, all hex; empty regions are dropped. By hand: a full scan parses
// some 15 lines per function.
func parseResource(b []byte) ([]BAR, error) {
	var bars []BAR
	for i := 0; len(b) > 0; i++ {
		line := b
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, b = b[:nl], b[nl+1:]
		} else {
			b = nil
		}
		if string(line) == emptyRegion {
			continue // most lines: unused BARs and windows
		}
		var v [3]uint64
		n := 0
		for rest := line; ; n++ {
			rest = rest[spaces(rest):]
			if len(rest) == 0 {
				break
			}
			end := fieldEnd(rest)
			if n == 3 {
				n++
				break
			}
			x, ok := parseHexField(rest[:end])
			if !ok {
				return bars, fmt.Errorf("line %d %q: %q is not hex", i+1, line, rest[:end])
			}
			v[n], rest = x, rest[end:]
		}
		switch {
		case n == 0:
			continue // an empty line
		case n != 3:
			return bars, fmt.Errorf("line %d %q: want 3 fields", i+1, line)
		case v[0] == 0 && v[1] == 0:
			continue
		}
		bars = append(bars, BAR{Index: i, Start: v[0], End: v[1], Flags: v[2]})
	}
	return bars, nil
}

// emptyRegion is how the kernel writes an unused region's line.
const emptyRegion = "0x0000000000000000 0x0000000000000000 0x0000000000000000"

// spaces is the length of b's leading run of ASCII white space (bar
// newlines: lines are split first); fieldEnd is where its first field
// ends. By hand rather than bytes.TrimLeft and IndexAny, which build a
// byte set on every call: a full scan makes some 200,000 of them.
func spaces(b []byte) int {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func fieldEnd(b []byte) int {
	i := 0
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' }

// parseHexField reads 0x-prefixed (or bare) hex of up to 64 bits.
func parseHexField(f []byte) (uint64, bool) {
	if len(f) >= 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X') {
		f = f[2:]
	}
	if len(f) == 0 {
		return 0, false
	}
	var x uint64
	for _, c := range f {
		d, ok := hexDigit(c)
		if !ok || x>>60 != 0 { // not hex, or more than 64 bits
			return 0, false
		}
		x = x<<4 | uint64(d)
	}
	return x, true
}

// parseDecimal reads what sysfs writes for a number, as "-1\n" or
// "64\n", without strconv.Atoi's string copy; ok is false for anything
// else (readInt then gives Atoi's answer and error).
func parseDecimal(b []byte) (int, bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// parentsFromPath lists the BDF components above the last one, nearest
// first.
func parentsFromPath(p string) []xl.PciBdf {
	var out []xl.PciBdf
	p = p[:max(strings.LastIndexByte(p, '/'), 0)] // drop the last
	for p != "" {
		i := strings.LastIndexByte(p, '/')
		if b, ok := parseSysfsBdf(p[i+1:]); ok {
			out = append(out, b)
		}
		p = p[:max(i, 0)]
	}
	return out
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
