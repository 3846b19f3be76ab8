// Package pcitest builds sysfs trees for tests: synthetic ones from a
// topology (readable by pcibind and by `lspci -A linux-sysfs -O
// sysfs.path=DIR/bus/pci`), and a simulated kernel (Kernel) that applies
// driver-binding writes to such a tree as Linux would.
package pcitest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Kind is the role of a node in a synthetic topology.
type Kind int

const (
	Endpoint       Kind = iota // PCIe endpoint
	RootPort                   // PCIe root port; children on its secondary bus
	SwitchUp                   // switch upstream port; children should be SwitchDown
	SwitchDown                 // switch downstream port
	PCIeToPCI                  // PCIe-to-PCI bridge; children conventional
	LegacyBridge               // PCI-to-PCI bridge without PCIe capability
	PCIDevice                  // conventional PCI device
	HostBridgeNode             // host bridge on the root bus
)

// Node is one device (possibly multi-function) in a topology.
type Node struct {
	Kind Kind
	// Funcs is the number of functions (1 when 0). Each function gets
	// the same IDs; function f's device ID is Device+f.
	Funcs          int
	Vendor, Device uint16 // defaults per kind
	Class          uint32 // defaults per kind
	// FLR sets PCIe DevCap FLR on endpoints, AF FLR on conventional
	// devices.
	FLR         bool
	NoSoftReset bool // PM capability's NoSoftRst
	NoPM        bool // omit the PM capability
	// NoACS omits ACS on a port; otherwise ACSCtrl is its control word
	// (0 means all the isolating bits).
	NoACS   bool
	ACSCtrl uint16
	MSI     bool
	MSIX    int // MSI-X vectors; 0 none
	// SR-IOV physical function: TotalVFs > 0; NumVFs enabled.
	TotalVFs, NumVFs   int
	VFOffset, VFStride uint16 // default 0x80 and 1
	VFDevice           uint16
	VFDriver           string
	Driver             string // driver bound to every function; "" none
	// ResetMethods overrides the reset_method file (nil: derived from
	// FLR, PM and bus position; empty non-nil: no file).
	ResetMethods []string
	// ManyCaps adds the capabilities a busy modern device shows besides
	// the ones above: vendor-specific, DSN, LTR, L1SS, ATS, PASID, a
	// vendor-specific extended one (a wide shape for scan benchmarks).
	ManyCaps bool
	NetDev   string // create class/net/<name> under this device
	BlockDev string // create block/<name> (and class/block) under this device
	Children []*Node
}

// Topology is the root bus of segment 0000 and the drivers the host has.
type Topology struct {
	Root []*Node
	// Drivers to create under bus/pci/drivers besides those nodes use,
	// e.g. "pciback", "pci-stub".
	Drivers []string
	// NUMANode written for every function (-1 when unset is wanted,
	// use NoNUMA).
	NUMANode int
	NoNUMA   bool
}

// Func is one generated function.
type Func struct {
	BDF    xl.PciBdf
	Path   string // relative to the root, devices/pci0000:00/...
	Node   *Node
	Kind   Kind
	Index  int // function index within Node, or VF index
	IsVF   bool
	PF     xl.PciBdf
	Driver string
}

// Tree is a generated sysfs tree.
type Tree struct {
	Root  string
	Funcs []*Func
	ByBDF map[xl.PciBdf]*Func
}

// Generate writes the topology under dir (which should be empty).
func Generate(dir string, t Topology) (*Tree, error) {
	g := &gen{tree: &Tree{Root: dir, ByBDF: map[xl.PciBdf]*Func{}}, t: t,
		drivers: map[string]bool{}, nextBus: 1, mem: 0xe0000000}
	for _, d := range t.Drivers {
		g.drivers[d] = true
	}
	hostDir := "devices/pci0000:00"
	for _, p := range []string{hostDir, "bus/pci/devices", "bus/pci/drivers", "bus/pci/slots", "class/net", "class/block", "block"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"bus/pci/drivers_probe", "bus/pci/drivers_autoprobe", "bus/pci/rescan"} {
		if err := g.write(f, ""); err != nil {
			return nil, err
		}
	}
	if err := g.bus(hostDir, 0, t.Root); err != nil {
		return nil, err
	}
	for d := range g.drivers {
		if err := MakeDriver(dir, d); err != nil {
			return nil, err
		}
	}
	for _, f := range g.tree.Funcs {
		if f.Driver != "" {
			if err := g.link(fmt.Sprintf("bus/pci/drivers/%s/%s", f.Driver, f.BDF), f.Path); err != nil {
				return nil, err
			}
		}
	}
	return g.tree, nil
}

// MakeDriver creates bus/pci/drivers/<name> with the attribute files a
// PCI driver has (and pciback's extras). Harmless when it exists.
func MakeDriver(root, name string) error {
	d := filepath.Join(root, "bus/pci/drivers", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	files := []string{"bind", "unbind", "new_id", "remove_id", "uevent"}
	if name == "pciback" {
		files = append(files, "new_slot", "remove_slot", "slots", "permissive", "quirks", "irq_handlers")
	}
	for _, f := range files {
		p := filepath.Join(d, f)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type gen struct {
	tree    *Tree
	t       Topology
	drivers map[string]bool
	nextBus int
	mem     uint64
	irq     int
}

func (g *gen) write(rel, data string) error {
	return os.WriteFile(filepath.Join(g.tree.Root, rel), []byte(data), 0o644)
}

// link makes rel a relative symlink to target (both relative to root).
func (g *gen) link(rel, target string) error {
	from := filepath.Dir(filepath.Join(g.tree.Root, rel))
	r, err := filepath.Rel(from, filepath.Join(g.tree.Root, target))
	if err != nil {
		return err
	}
	return os.Symlink(r, filepath.Join(g.tree.Root, rel))
}

func defaults(n *Node) (vendor, device uint16, class uint32, header uint8) {
	switch n.Kind {
	case RootPort:
		return 0x8086, 0x7ab8, 0x060400, pcibind.HeaderBridge
	case SwitchUp:
		return 0x10b5, 0x8747, 0x060400, pcibind.HeaderBridge
	case SwitchDown:
		return 0x10b5, 0x8747, 0x060400, pcibind.HeaderBridge
	case PCIeToPCI:
		return 0x1b21, 0x1080, 0x060401, pcibind.HeaderBridge
	case LegacyBridge:
		return 0x8086, 0x244e, 0x060401, pcibind.HeaderBridge
	case PCIDevice:
		return 0x8086, 0x100e, 0x020000, pcibind.HeaderNormal
	case HostBridgeNode:
		return 0x8086, 0x29c0, 0x060000, pcibind.HeaderNormal
	}
	return 0x8086, 0x10fb, 0x020000, pcibind.HeaderNormal
}

func isBridge(k Kind) bool {
	return k == RootPort || k == SwitchUp || k == SwitchDown || k == PCIeToPCI || k == LegacyBridge
}

// bus lays out nodes on one bus whose parent directory is dir.
func (g *gen) bus(dir string, bus int, nodes []*Node) error {
	dev := 0
	// Root-bus devices start at 00:01.0 unless a host bridge takes 00:00.
	if bus == 0 && (len(nodes) == 0 || nodes[0].Kind != HostBridgeNode) {
		dev = 1
	}
	for _, n := range nodes {
		if dev > 31 {
			return fmt.Errorf("pcitest: more than 32 devices on bus %#x", bus)
		}
		if err := g.node(dir, bus, dev, n); err != nil {
			return err
		}
		dev++
	}
	return nil
}

func (g *gen) node(dir string, bus, dev int, n *Node) error {
	funcs := n.Funcs
	if funcs <= 0 {
		funcs = 1
	}
	if funcs > 8 {
		return fmt.Errorf("pcitest: %d functions in one device", funcs)
	}
	vendor, device, class, header := defaults(n)
	if n.Vendor != 0 {
		vendor = n.Vendor
	}
	if n.Device != 0 {
		device = n.Device
	}
	if n.Class != 0 {
		class = n.Class
	}
	for f := 0; f < funcs; f++ {
		bdf := xl.PciBdf{Bus: uint8(bus), Dev: uint8(dev), Func: uint8(f)}
		path := dir + "/" + bdf.String()
		cb := configFor(n, vendor, device+uint16(f), class, header, funcs > 1)
		var sec, sub int
		if isBridge(n.Kind) {
			sec = g.nextBus
			g.nextBus++
		}
		fn := &Func{BDF: bdf, Path: path, Node: n, Kind: n.Kind, Index: f, Driver: n.Driver}
		if n.Kind == RootPort || n.Kind == SwitchUp || n.Kind == SwitchDown {
			if fn.Driver == "" {
				fn.Driver = "pcieport"
			}
		}
		if err := g.function(fn, cb, vendor, device+uint16(f), class); err != nil {
			return err
		}
		if n.TotalVFs > 0 && f == 0 {
			if err := g.vfs(dir, fn, n, vendor); err != nil {
				return err
			}
		}
		if isBridge(n.Kind) && f == 0 {
			if err := g.bus(path, sec, n.Children); err != nil {
				return err
			}
			sub = g.nextBus - 1
			cb.Buses(uint8(bus), uint8(sec), uint8(sub))
			if err := g.write(path+"/config", string(cb.Bytes())); err != nil {
				return err
			}
			if err := g.write(path+"/secondary_bus_number", fmt.Sprintf("%d\n", sec)); err != nil {
				return err
			}
			if err := g.write(path+"/subordinate_bus_number", fmt.Sprintf("%d\n", sub)); err != nil {
				return err
			}
		}
	}
	return nil
}

func configFor(n *Node, vendor, device uint16, class uint32, header uint8, multi bool) *ConfigBuilder {
	cb := NewConfig(vendor, device, class, 1, header)
	if header == pcibind.HeaderNormal {
		cb.Subsystem(vendor, 0x0001)
	}
	if multi {
		cb.MultiFunction()
	}
	if n.Kind == HostBridgeNode {
		return cb
	}
	if !n.NoPM {
		cb.PM(n.NoSoftReset)
	}
	if n.MSI {
		cb.MSI(3)
	}
	switch n.Kind {
	case Endpoint:
		cb.PCIe(pcibind.PCIeEndpoint, n.FLR)
	case RootPort:
		cb.PCIe(pcibind.PCIeRootPort, false)
	case SwitchUp:
		cb.PCIe(pcibind.PCIeUpstreamPort, false)
	case SwitchDown:
		cb.PCIe(pcibind.PCIeDownstreamPort, false)
	case PCIeToPCI:
		cb.PCIe(pcibind.PCIeToPCIBridge, false)
	case PCIDevice:
		if n.FLR {
			cb.AF(true)
		}
	}
	if n.MSIX > 0 {
		cb.MSIX(n.MSIX, 0)
	}
	if n.Kind == LegacyBridge || n.Kind == PCIDevice {
		return cb
	}
	cb.AER()
	if (n.Kind == RootPort || n.Kind == SwitchDown) && !n.NoACS {
		ctl := n.ACSCtrl
		if ctl == 0 {
			ctl = pcibind.ACSIsolation
		}
		cb.ACS(0x5f, ctl)
	}
	if n.ManyCaps && n.Kind != PCIDevice {
		cb.Cap(pcibind.CapVendor, []byte{12, 1, 2, 3, 4, 5, 6, 7, 8, 9})
		cb.ExtCap(pcibind.ExtCapDSN, le32x2(0x12345678, 0x9abcdef0))
		cb.ExtCap(pcibind.ExtCapLTR, le32(0x10031003))
		cb.ExtCap(pcibind.ExtCapL1SS, make([]byte, 12))
		cb.ExtCap(pcibind.ExtCapATS, le32(0x0020))
		cb.ExtCap(pcibind.ExtCapPASID, le32(0x1406))
		cb.ExtCap(pcibind.ExtCapVendor, append(le32(0x01000001), make([]byte, 12)...))
	}
	if n.TotalVFs > 0 {
		cb.ARI(0)
		off, stride := vfRouting(n)
		cb.SRIOV(uint16(n.TotalVFs), uint16(n.NumVFs), off, stride, vfDevice(n))
	}
	return cb
}

func vfRouting(n *Node) (uint16, uint16) {
	off, stride := n.VFOffset, n.VFStride
	if off == 0 {
		off = 0x80
	}
	if stride == 0 {
		stride = 1
	}
	return off, stride
}

func vfDevice(n *Node) uint16 {
	if n.VFDevice != 0 {
		return n.VFDevice
	}
	return n.Device + 0x100
}

// function writes one function's directory.
func (g *gen) function(fn *Func, cb *ConfigBuilder, vendor, device uint16, class uint32) error {
	n := fn.Node
	root := g.tree.Root
	if _, dup := g.tree.ByBDF[fn.BDF]; dup {
		return fmt.Errorf("pcitest: two functions at %s", fn.BDF)
	}
	if err := os.Mkdir(filepath.Join(root, fn.Path), 0o755); err != nil {
		return err
	}
	g.irq++
	irq := 0
	if n.Kind != HostBridgeNode {
		irq = 16 + g.irq%16
		cb.Interrupt(uint8(irq), 1)
	}
	numa := g.t.NUMANode
	if g.t.NoNUMA {
		numa = -1
	}
	var resource strings.Builder
	// Endpoints get a 64-bit 1 MiB BAR0, recorded in config too so lspci
	// sees the same region either way.
	nlines := 17
	bar0 := uint64(0)
	if !isBridge(n.Kind) && n.Kind != HostBridgeNode {
		bar0 = g.mem
		g.mem += 1 << 20
		if !fn.IsVF {
			cb.Set32(pcibind.RegBAR0, uint32(bar0)|0x4)
			cb.Set32(pcibind.RegBAR0+4, uint32(bar0>>32))
		}
	}
	for i := 0; i < nlines; i++ {
		if i == 0 && bar0 != 0 {
			fmt.Fprintf(&resource, "0x%016x 0x%016x 0x%016x\n", bar0, bar0+1<<20-1, uint64(0x140204))
		} else {
			fmt.Fprintf(&resource, "0x%016x 0x%016x 0x%016x\n", 0, 0, 0)
		}
	}
	cfg := cb.Bytes()
	if fn.IsVF {
		// VFs read all-ones vendor and device IDs in config space.
		cfg[0], cfg[1], cfg[2], cfg[3] = 0xff, 0xff, 0xff, 0xff
	}
	rev := cfg[pcibind.RegRevision]
	subV, subD := uint16(0), uint16(0)
	if cfg[pcibind.RegHeaderType]&0x7f == 0 {
		subV = uint16(cfg[0x2c]) | uint16(cfg[0x2d])<<8
		subD = uint16(cfg[0x2e]) | uint16(cfg[0x2f])<<8
	}
	files := map[string]string{
		"config":           string(cfg),
		"vendor":           fmt.Sprintf("0x%04x\n", vendor),
		"device":           fmt.Sprintf("0x%04x\n", device),
		"class":            fmt.Sprintf("0x%06x\n", class),
		"revision":         fmt.Sprintf("0x%02x\n", rev),
		"subsystem_vendor": fmt.Sprintf("0x%04x\n", subV),
		"subsystem_device": fmt.Sprintf("0x%04x\n", subD),
		"irq":              fmt.Sprintf("%d\n", irq),
		"numa_node":        fmt.Sprintf("%d\n", numa),
		"resource":         resource.String(),
		"driver_override":  "(null)\n",
		"enable":           "1\n",
		"modalias":         fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n", vendor, device, subV, subD, class>>16, class>>8&0xff, class&0xff),
		"local_cpulist":    "0-1\n",
		"remove":           "",
		"uevent":           fmt.Sprintf("PCI_SLOT_NAME=%s\n", fn.BDF),
	}
	if rm := resetMethods(fn); rm != nil {
		files["reset_method"] = strings.Join(rm, " ") + "\n"
		files["reset"] = ""
	}
	if n.TotalVFs > 0 && !fn.IsVF && fn.Index == 0 {
		off, stride := vfRouting(n)
		files["sriov_totalvfs"] = fmt.Sprintf("%d\n", n.TotalVFs)
		files["sriov_numvfs"] = fmt.Sprintf("%d\n", n.NumVFs)
		files["sriov_offset"] = fmt.Sprintf("%d\n", off)
		files["sriov_stride"] = fmt.Sprintf("%d\n", stride)
		files["sriov_vf_device"] = fmt.Sprintf("%x\n", vfDevice(n))
		files["sriov_drivers_autoprobe"] = "1\n"
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, fn.Path, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	if err := g.link(fn.Path+"/subsystem", "bus/pci"); err != nil {
		return err
	}
	if err := g.link("bus/pci/devices/"+fn.BDF.String(), fn.Path); err != nil {
		return err
	}
	if fn.Driver != "" {
		g.drivers[fn.Driver] = true
		if err := g.link(fn.Path+"/driver", "bus/pci/drivers/"+fn.Driver); err != nil {
			return err
		}
	}
	if n.NetDev != "" && !fn.IsVF && fn.Index == 0 {
		p := fn.Path + "/net/" + n.NetDev
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			return err
		}
		if err := g.link(p+"/device", fn.Path); err != nil {
			return err
		}
		if err := g.link("class/net/"+n.NetDev, p); err != nil {
			return err
		}
	}
	if n.BlockDev != "" && !fn.IsVF && fn.Index == 0 {
		ctl := fn.Path + "/nvme/nvme0"
		p := ctl + "/" + n.BlockDev
		part := p + "/" + n.BlockDev + "p1"
		if err := os.MkdirAll(filepath.Join(root, part), 0o755); err != nil {
			return err
		}
		if err := g.link(p+"/device", ctl); err != nil {
			return err
		}
		for _, l := range [][2]string{{"block/" + n.BlockDev, p}, {"class/block/" + n.BlockDev, p}, {"class/block/" + n.BlockDev + "p1", part}} {
			if err := g.link(l[0], l[1]); err != nil {
				return err
			}
		}
	}
	g.tree.Funcs = append(g.tree.Funcs, fn)
	g.tree.ByBDF[fn.BDF] = fn
	return nil
}

func resetMethods(fn *Func) []string {
	n := fn.Node
	if n.ResetMethods != nil {
		if len(n.ResetMethods) == 0 {
			return nil
		}
		return n.ResetMethods
	}
	if isBridge(n.Kind) || n.Kind == HostBridgeNode {
		return nil
	}
	var m []string
	if fn.IsVF || n.FLR && n.Kind == Endpoint {
		m = append(m, "flr")
	}
	if n.FLR && n.Kind == PCIDevice {
		m = append(m, "af_flr")
	}
	if !fn.IsVF && !n.NoPM && !n.NoSoftReset {
		m = append(m, "pm")
	}
	if !fn.IsVF && fn.BDF.Bus != 0 {
		m = append(m, "bus")
	}
	return m
}

// vfs creates the PF's enabled VFs as siblings of the PF (as Linux
// does), with virtfnN and physfn links; VF routing IDs may spill onto
// following bus numbers, which are reserved.
func (g *gen) vfs(dir string, pf *Func, n *Node, vendor uint16) error {
	off, stride := vfRouting(n)
	vcfg := pcibind.SRIOV{VFOffset: off, VFStride: stride}
	maxBus := int(pf.BDF.Bus)
	vfNode := &Node{Kind: Endpoint, FLR: true, NoPM: true, MSIX: 3, Vendor: vendor,
		Device: vfDevice(n), Driver: n.VFDriver, ResetMethods: []string{"flr"}, ManyCaps: n.ManyCaps}
	for i := 0; i < n.NumVFs; i++ {
		b, ok := vcfg.VF(pf.BDF, i)
		if !ok {
			return fmt.Errorf("pcitest: VF %d of %s leaves the routing-ID space", i, pf.BDF)
		}
		if int(b.Bus) > maxBus {
			maxBus = int(b.Bus)
		}
		fn := &Func{BDF: b, Path: dir + "/" + b.String(), Node: vfNode, Kind: Endpoint, Index: i,
			IsVF: true, PF: pf.BDF, Driver: n.VFDriver}
		cb := configFor(vfNode, vendor, vfDevice(n), classOr(n), pcibind.HeaderNormal, false)
		if err := g.function(fn, cb, vendor, vfDevice(n), classOr(n)); err != nil {
			return err
		}
		if err := g.link(fmt.Sprintf("%s/virtfn%d", pf.Path, i), fn.Path); err != nil {
			return err
		}
		if err := g.link(fn.Path+"/physfn", pf.Path); err != nil {
			return err
		}
	}
	if maxBus >= g.nextBus {
		g.nextBus = maxBus + 1
	}
	return nil
}

func classOr(n *Node) uint32 {
	if n.Class != 0 {
		return n.Class
	}
	_, _, c, _ := defaults(n)
	return c
}

// CleanupTB is the part of testing.TB TempDir needs.
type CleanupTB interface {
	Helper()
	TempDir() string
	Cleanup(func())
}

// TempDir is a fresh directory for a generated tree, on tmpfs (/dev/shm)
// when there is one: sysfs lives in memory, and creating thousands of
// small files on a busy disk makes tests slow. It is removed at cleanup.
func TempDir(tb CleanupTB) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "xlpt-test-"); err == nil {
			tb.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return tb.TempDir()
}
