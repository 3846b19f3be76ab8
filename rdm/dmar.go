package rdm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xlpt/xlpt/xl"
)

// DMAR layout (Intel VT-d specification, chapter 8; ACPICA actbl1.h).
const (
	dmarHeaderLen = 36 // the standard ACPI table header
	dmarFixedLen  = 48 // header + host address width, flags, 10 reserved

	scopeHeaderLen = 6 // type, length, flags, reserved, enumeration id, start bus
	scopeMinLen    = 8 // Xen's MIN_SCOPE_LEN: a header and one path entry

	// MaxDMARSize bounds ReadDMAR. A DMAR of a large server is a few KiB.
	MaxDMARSize = 1 << 20
)

// StructType is a DMAR remapping structure type.
type StructType uint16

const (
	TypeDRHD StructType = 0 // DMA remapping hardware unit definition
	TypeRMRR StructType = 1 // reserved memory region reporting
	TypeATSR StructType = 2 // root port ATS capability reporting
	TypeRHSA StructType = 3 // remapping hardware static affinity
	TypeANDD StructType = 4 // ACPI namespace device declaration
	TypeSATC StructType = 5 // SoC integrated address translation cache
)

func (t StructType) String() string {
	switch t {
	case TypeDRHD:
		return "DRHD"
	case TypeRMRR:
		return "RMRR"
	case TypeATSR:
		return "ATSR"
	case TypeRHSA:
		return "RHSA"
	case TypeANDD:
		return "ANDD"
	case TypeSATC:
		return "SATC"
	}
	return fmt.Sprintf("type %#x", uint16(t))
}

// minLen is each known structure's fixed part; a shorter one is invalid
// (Xen's acpi_dmar_check_length).
var minLen = map[StructType]int{
	TypeDRHD: 16, TypeRMRR: 24, TypeATSR: 8, TypeRHSA: 20, TypeANDD: 8, TypeSATC: 8,
}

// ScopeType is a device scope entry type.
type ScopeType uint8

const (
	ScopeEndpoint  ScopeType = 1 // PCI endpoint device
	ScopeBridge    ScopeType = 2 // PCI sub-hierarchy (the bridge above it)
	ScopeIOAPIC    ScopeType = 3
	ScopeHPET      ScopeType = 4 // MSI-capable HPET
	ScopeNamespace ScopeType = 5 // ACPI namespace device (see ANDD)
)

func (t ScopeType) String() string {
	switch t {
	case ScopeEndpoint:
		return "endpoint"
	case ScopeBridge:
		return "bridge"
	case ScopeIOAPIC:
		return "ioapic"
	case ScopeHPET:
		return "hpet"
	case ScopeNamespace:
		return "namespace"
	}
	return fmt.Sprintf("scope type %#x", uint8(t))
}

// PathEntry is one hop of a scope path: a device and function on the bus
// reached so far.
type PathEntry struct {
	Dev, Fn uint8
}

// DeviceScope names a device the way firmware does: a start bus and a path
// of (device, function) hops, each hop but the last being a bridge whose
// secondary bus the next hop is on.
type DeviceScope struct {
	Type          ScopeType
	Flags         uint8
	EnumerationID uint8 // IOAPIC/HPET id, ANDD device number
	StartBus      uint8
	Path          []PathEntry
}

// DRHD is a remapping hardware unit.
type DRHD struct {
	Flags        uint8 // bit 0: INCLUDE_PCI_ALL
	Size         uint8 // register set size, 2^Size pages (0 on older tables)
	Segment      uint16
	RegisterBase uint64
	Scopes       []DeviceScope
}

// IncludeAll reports the INCLUDE_PCI_ALL flag: the unit covers every device
// of its segment that no other unit lists.
func (d DRHD) IncludeAll() bool { return d.Flags&1 != 0 }

// RMRR is a reserved memory region the listed devices keep using DMA on
// (USB legacy emulation buffers, graphics stolen memory).
type RMRR struct {
	Segment uint16
	Base    uint64
	// Limit is the last byte of the region (inclusive).
	Limit  uint64
	Scopes []DeviceScope
}

// ATSR lists root ports whose devices may use ATS.
type ATSR struct {
	Flags   uint8 // bit 0: ALL_PORTS
	Segment uint16
	Scopes  []DeviceScope
}

// AllPorts reports the ALL_PORTS flag.
func (a ATSR) AllPorts() bool { return a.Flags&1 != 0 }

// RHSA gives the NUMA proximity domain of a remapping unit.
type RHSA struct {
	RegisterBase    uint64
	ProximityDomain uint32
}

// ANDD names an ACPI namespace device referred to by a namespace scope.
type ANDD struct {
	DeviceNumber uint8
	Name         string
}

// SATC lists SoC devices with an address translation cache.
type SATC struct {
	Flags   uint8 // bit 0: ATC_REQUIRED
	Segment uint16
	Scopes  []DeviceScope
}

// Unknown is a structure of a type this parser does not know; it is
// skipped, as Xen skips it ("Ignore unknown DMAR structure type").
type Unknown struct {
	Type   StructType
	Offset int
	Length int
}

// Table is a decoded DMAR.
type Table struct {
	// Signature is "DMAR", or "RMAD"/"XMAR" for the copy a Xen dom0 sees:
	// Xen renames the table after parsing it so that dom0 leaves VT-d
	// alone (acpi_dmar_zap).
	Signature       string
	Length          uint32
	Revision        uint8
	Checksum        uint8
	ChecksumOK      bool
	OEMID           string
	OEMTableID      string
	OEMRevision     uint32
	CreatorID       string
	CreatorRevision uint32
	// HostAddressWidth is the DMA physical address width minus one, as
	// stored.
	HostAddressWidth uint8
	// Flags: bit 0 INTR_REMAP, bit 1 X2APIC_OPT_OUT, bit 2 DMA_CTRL_PLATFORM_OPT_IN.
	Flags uint8

	DRHDs   []DRHD
	RMRRs   []RMRR
	ATSRs   []ATSR
	RHSAs   []RHSA
	ANDDs   []ANDD
	SATCs   []SATC
	Unknown []Unknown
}

// ParseError is a malformed table, with the byte offset of the problem.
type ParseError struct {
	Offset int
	Msg    string
}

func (e *ParseError) Error() string { return fmt.Sprintf("DMAR at offset %#x: %s", e.Offset, e.Msg) }

func perr(off int, f string, a ...any) error {
	return &ParseError{Offset: off, Msg: fmt.Sprintf(f, a...)}
}

// ParseDMAR decodes a DMAR table. It never reads outside b or past the
// table's own Length, and every loop advances by at least 4 bytes, so a
// hostile table costs at most O(len(b)). A table whose structures are
// malformed is an error (Xen then disables VT-d altogether); what was
// decoded before the error is returned with it.
func ParseDMAR(b []byte) (*Table, error) {
	if len(b) < dmarHeaderLen {
		return nil, perr(0, "%d bytes, shorter than an ACPI header", len(b))
	}
	t := &Table{
		Signature:       string(b[0:4]),
		Length:          binary.LittleEndian.Uint32(b[4:8]),
		Revision:        b[8],
		Checksum:        b[9],
		OEMID:           string(b[10:16]),
		OEMTableID:      string(b[16:24]),
		OEMRevision:     binary.LittleEndian.Uint32(b[24:28]),
		CreatorID:       string(b[28:32]),
		CreatorRevision: binary.LittleEndian.Uint32(b[32:36]),
	}
	switch t.Signature {
	case "DMAR", "RMAD", "XMAR":
	default:
		return nil, perr(0, "signature %q is not DMAR", t.Signature)
	}
	if uint64(t.Length) > uint64(len(b)) {
		return nil, perr(4, "table length %d exceeds the %d bytes read", t.Length, len(b))
	}
	if t.Length < dmarFixedLen {
		return nil, perr(4, "table length %d shorter than the %d-byte DMAR header", t.Length, dmarFixedLen)
	}
	b = b[:t.Length]
	var sum uint8
	for _, c := range b {
		sum += c
	}
	t.ChecksumOK = sum == 0
	t.HostAddressWidth = b[36]
	t.Flags = b[37]

	for off := dmarFixedLen; off < len(b); {
		if len(b)-off < 4 {
			return t, perr(off, "%d trailing bytes, too short for a structure header", len(b)-off)
		}
		typ := StructType(binary.LittleEndian.Uint16(b[off:]))
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		if n < 4 {
			return t, perr(off, "%v length %d", typ, n)
		}
		if n > len(b)-off {
			return t, perr(off, "%v length %d runs past the table end (%d bytes left)", typ, n, len(b)-off)
		}
		if m, ok := minLen[typ]; ok && n < m {
			return t, perr(off, "%v length %d shorter than its fixed %d bytes", typ, n, m)
		}
		if err := t.addStruct(typ, b[off:off+n], off); err != nil {
			return t, err
		}
		off += n
	}
	return t, nil
}

// addStruct decodes one remapping structure s (its length already
// checked against minLen) found at table offset off.
func (t *Table) addStruct(typ StructType, s []byte, off int) error {
	var err error
	switch typ {
	case TypeDRHD:
		d := DRHD{Flags: s[4], Size: s[5], Segment: le16(s, 6), RegisterBase: le64(s, 8)}
		d.Scopes, err = parseScopes(s, 16, off)
		t.DRHDs = append(t.DRHDs, d)
	case TypeRMRR:
		r := RMRR{Segment: le16(s, 6), Base: le64(s, 8), Limit: le64(s, 16)}
		r.Scopes, err = parseScopes(s, 24, off)
		t.RMRRs = append(t.RMRRs, r)
	case TypeATSR:
		a := ATSR{Flags: s[4], Segment: le16(s, 6)}
		a.Scopes, err = parseScopes(s, 8, off)
		t.ATSRs = append(t.ATSRs, a)
	case TypeRHSA:
		t.RHSAs = append(t.RHSAs, RHSA{RegisterBase: le64(s, 8), ProximityDomain: le32(s, 16)})
	case TypeANDD:
		name := s[8:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		t.ANDDs = append(t.ANDDs, ANDD{DeviceNumber: s[7], Name: string(name)})
	case TypeSATC:
		c := SATC{Flags: s[4], Segment: le16(s, 6)}
		c.Scopes, err = parseScopes(s, 8, off)
		t.SATCs = append(t.SATCs, c)
	default:
		t.Unknown = append(t.Unknown, Unknown{Type: typ, Offset: off, Length: len(s)})
	}
	return err
}

// parseScopes decodes the device scopes of structure s from byte from on;
// base is s's offset in the table, for errors.
func parseScopes(s []byte, from, base int) ([]DeviceScope, error) {
	var out []DeviceScope
	for off := from; off < len(s); {
		if len(s)-off < scopeHeaderLen {
			return out, perr(base+off, "%d trailing bytes, too short for a device scope", len(s)-off)
		}
		n := int(s[off+1])
		if n < scopeMinLen {
			return out, perr(base+off, "device scope length %d, need at least %d", n, scopeMinLen)
		}
		if n > len(s)-off {
			return out, perr(base+off, "device scope length %d runs past its structure (%d bytes left)", n, len(s)-off)
		}
		if (n-scopeHeaderLen)%2 != 0 {
			return out, perr(base+off, "device scope length %d leaves half a path entry", n)
		}
		sc := DeviceScope{
			Type:          ScopeType(s[off]),
			Flags:         s[off+2],
			EnumerationID: s[off+4],
			StartBus:      s[off+5],
			Path:          make([]PathEntry, 0, (n-scopeHeaderLen)/2),
		}
		for p := off + scopeHeaderLen; p+1 < off+n; p += 2 {
			sc.Path = append(sc.Path, PathEntry{Dev: s[p], Fn: s[p+1]})
		}
		out = append(out, sc)
		off += n
	}
	return out, nil
}

func le16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// SecondaryBusFunc gives the secondary bus number of the bridge at bdf
// (config register 0x19), or ok=false when there is no such bridge. It is
// how a scope path is walked; SysfsSecondaryBus backs it with the host's
// config space, tests with a map.
type SecondaryBusFunc func(bridge xl.PciBdf) (sec uint8, ok bool)

// ErrUnresolved is returned when a scope path crosses a bridge that is not
// there.
var ErrUnresolved = errors.New("scope path crosses a missing bridge")

// Resolve turns the scope's path into the BDF it names on segment seg,
// the way Xen's acpi_parse_dev_scope does: start at StartBus, and for each
// hop but the last, move to the secondary bus of the bridge at that hop.
// For a bridge scope the result is the bridge itself (the scope covers its
// secondary..subordinate buses). sec may be nil when the path has one hop.
func (s DeviceScope) Resolve(seg uint16, sec SecondaryBusFunc) (xl.PciBdf, error) {
	if len(s.Path) == 0 {
		return xl.PciBdf{}, fmt.Errorf("%v scope has an empty path", s.Type)
	}
	bus := s.StartBus
	for i, p := range s.Path {
		if p.Dev > 0x1f || p.Fn > 7 {
			return xl.PciBdf{}, fmt.Errorf("%v scope path hop %d (%02x,%02x) is not a device/function", s.Type, i, p.Dev, p.Fn)
		}
		at := xl.PciBdf{Domain: seg, Bus: bus, Dev: p.Dev, Func: p.Fn}
		if i == len(s.Path)-1 {
			return at, nil
		}
		var ok bool
		if sec != nil {
			bus, ok = sec(at)
		}
		if !ok {
			return xl.PciBdf{}, fmt.Errorf("%w: no bridge at %s (hop %d of %d)", ErrUnresolved, at, i+1, len(s.Path))
		}
	}
	panic("unreachable")
}

// PathString shows a scope as firmware wrote it: "00:[04.0/01.0]".
func (s DeviceScope) PathString() string {
	out := fmt.Sprintf("%02x:[", s.StartBus)
	for i, p := range s.Path {
		if i > 0 {
			out += "/"
		}
		out += fmt.Sprintf("%02x.%x", p.Dev, p.Fn)
	}
	return out + "]"
}

// Valid reports whether the RMRR describes a real range; Xen rejects one
// whose base lies above its limit ("RMRR [...] is incorrect").
func (r RMRR) Valid() bool { return r.Base <= r.Limit }

// Region converts the RMRR into pages the way Xen reports it through
// XENMEM_reserved_device_memory_map (intel_iommu_get_reserved_device_memory):
// start PFN_DOWN(base), PFN_UP(limit) - PFN_DOWN(base) pages. Every
// endpoint and bridge scope is resolved; scopes that cannot be resolved are
// returned as errors, and the region keeps the devices that could.
func (r RMRR) Region(sec SecondaryBusFunc) (Region, []error) {
	reg := Region{Sources: []Source{SourceDMAR}}
	reg.StartPFN = r.Base >> PageShift
	up := r.Limit>>PageShift + 1
	if r.Limit&(1<<PageShift-1) == 0 {
		up = r.Limit >> PageShift
	}
	if r.Valid() && up > reg.StartPFN {
		reg.NrPages = up - reg.StartPFN
	}
	var errs []error
	for _, sc := range r.Scopes {
		if sc.Type != ScopeEndpoint && sc.Type != ScopeBridge {
			continue
		}
		bdf, err := sc.Resolve(r.Segment, sec)
		if err != nil {
			errs = append(errs, fmt.Errorf("RMRR %#x-%#x: %w", r.Base, r.Limit, err))
			continue
		}
		if !reg.Has(bdf) {
			reg.Devices = append(reg.Devices, bdf)
		}
	}
	return reg, errs
}

// Regions gives every valid RMRR of the table as a region (in table order),
// with the scope resolution errors met on the way.
func (t *Table) Regions(sec SecondaryBusFunc) ([]Region, []error) {
	var out []Region
	var errs []error
	for _, r := range t.RMRRs {
		if !r.Valid() {
			errs = append(errs, fmt.Errorf("RMRR base %#x above its limit %#x: Xen ignores it", r.Base, r.Limit))
			continue
		}
		reg, e := r.Region(sec)
		errs = append(errs, e...)
		out = append(out, reg)
	}
	return out, errs
}

// dmarNames are the names the table can have under /sys/firmware/acpi/tables:
// DMAR on bare metal; RMAD in a Xen 4.17 dom0 (Xen swaps the signature's
// letters, which keeps the checksum); XMAR with older Xen.
var dmarNames = []string{"DMAR", "RMAD", "XMAR"}

// ReadDMAR reads the DMAR table from sysfsRoot (normally "/sys"), trying
// each name the table can have. It returns the bytes and the name found.
// A missing table is reported with os.ErrNotExist (an AMD host, or VT-d
// disabled in the firmware).
func ReadDMAR(sysfsRoot string) ([]byte, string, error) {
	dir := filepath.Join(sysfsRoot, "firmware", "acpi", "tables")
	for _, n := range dmarNames {
		p := filepath.Join(dir, n)
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(io.LimitReader(f, MaxDMARSize+1))
		f.Close()
		if err != nil {
			return nil, "", &os.PathError{Op: "read", Path: p, Err: err}
		}
		if len(b) > MaxDMARSize {
			return nil, "", fmt.Errorf("%s: larger than %d bytes", p, MaxDMARSize)
		}
		return b, n, nil
	}
	return nil, "", &os.PathError{Op: "open", Path: filepath.Join(dir, "DMAR"), Err: os.ErrNotExist}
}

// SysfsSecondaryBus reads a bridge's secondary bus number from its config
// space under sysfsRoot (bus/pci/devices/<bdf>/config, byte 0x19; the
// first 64 bytes are readable without privileges). It answers ok=false
// for a missing device or one that is not a bridge (header type 1).
func SysfsSecondaryBus(sysfsRoot string) SecondaryBusFunc {
	return func(b xl.PciBdf) (uint8, bool) {
		f, err := os.Open(filepath.Join(sysfsRoot, "bus", "pci", "devices", b.String(), "config"))
		if err != nil {
			return 0, false
		}
		defer f.Close()
		var hdr [0x1a]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			return 0, false
		}
		if hdr[0x0e]&0x7f != 1 {
			return 0, false
		}
		return hdr[0x19], true
	}
}
