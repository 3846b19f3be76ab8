package rdm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// compileASL compiles testdata/<name>.asl with iasl in a temporary
// directory and returns the table bytes and iasl's own disassembly of them.
func compileASL(t testing.TB, name string) ([]byte, string) {
	t.Helper()
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("iasl not installed: apt-get install acpica-tools to run the DMAR differential tests")
	}
	src, err := os.ReadFile(filepath.Join("testdata", name+".asl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name+".asl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		cmd := exec.Command(iasl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("iasl %v: %v\n%s", args, err, out)
		}
	}
	run(name + ".asl")
	aml, err := os.ReadFile(filepath.Join(dir, name+".aml"))
	if err != nil {
		t.Fatal(err)
	}
	// Disassemble from a copy, so the .dsl cannot be confused with the source.
	if err := os.WriteFile(filepath.Join(dir, "copy.aml"), aml, 0o644); err != nil {
		t.Fatal(err)
	}
	run("-d", "copy.aml")
	dsl, err := os.ReadFile(filepath.Join(dir, "copy.dsl"))
	if err != nil {
		t.Fatal(err)
	}
	return aml, string(dsl)
}

// dslTable is what iasl -d printed, reduced to the fields we compare.
type dslTable struct {
	Header  map[string]string
	Structs []dslStruct
}

type dslStruct struct {
	Type   uint64
	Fields map[string]string
	Scopes []dslScope
}

type dslScope struct {
	Type, Enum, Bus uint64
	Path            []PathEntry
}

var dslLine = regexp.MustCompile(`^\[[0-9A-F]+h [0-9]+ +[0-9]+\] +(.+?) : (.*)$`)

// parseDSL reads iasl's disassembly: "[off dec len] Field : value" lines.
// A "Subtable Type" line opens a structure, a "Device Scope Type" line a
// scope inside it.
func parseDSL(t *testing.T, dsl string) dslTable {
	t.Helper()
	tab := dslTable{Header: map[string]string{}}
	var cur *dslStruct
	var sc *dslScope
	sn := bufio.NewScanner(strings.NewReader(dsl))
	for sn.Scan() {
		m := dslLine.FindStringSubmatch(strings.TrimSpace(sn.Text()))
		if m == nil {
			continue
		}
		key, val := m[1], strings.TrimSpace(m[2])
		// Drop iasl's trailing "[description]" of enumerated values.
		if strings.HasPrefix(val, "\"") {
			if i := strings.Index(val[1:], "\""); i >= 0 {
				val = val[:i+2]
			}
		} else if i := strings.Index(val, " ["); i > 0 {
			val = val[:i]
		}
		switch {
		case key == "Subtable Type":
			tab.Structs = append(tab.Structs, dslStruct{Type: hex(t, val), Fields: map[string]string{}})
			cur, sc = &tab.Structs[len(tab.Structs)-1], nil
		case cur == nil:
			tab.Header[key] = val
		case key == "Device Scope Type":
			cur.Scopes = append(cur.Scopes, dslScope{Type: hex(t, val)})
			sc = &cur.Scopes[len(cur.Scopes)-1]
		case sc != nil && key == "Enumeration ID":
			sc.Enum = hex(t, val)
		case sc != nil && key == "PCI Bus Number":
			sc.Bus = hex(t, val)
		case sc != nil && key == "PCI Path":
			d, f, ok := strings.Cut(val, ",")
			if !ok {
				t.Fatalf("iasl path %q", val)
			}
			sc.Path = append(sc.Path, PathEntry{uint8(hex(t, d)), uint8(hex(t, f))})
		case sc != nil && (key == "Entry Length" || key == "Reserved"):
		default:
			cur.Fields[key] = val
		}
	}
	return tab
}

func hex(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 16, 64)
	if err != nil {
		t.Fatalf("iasl value %q: %v", s, err)
	}
	return v
}

func unquote(s string) string { return strings.Trim(s, "\"") }

// checkAgainstIASL compares every field iasl printed with our decoding.
func checkAgainstIASL(t *testing.T, tab *Table, d dslTable) {
	t.Helper()
	h := d.Header
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parser %v, iasl %v", what, got, want)
		}
	}
	eq("signature", tab.Signature, unquote(h["Signature"]))
	eq("length", uint64(tab.Length), hex(t, h["Table Length"]))
	eq("revision", uint64(tab.Revision), hex(t, h["Revision"]))
	eq("checksum", uint64(tab.Checksum), hex(t, h["Checksum"]))
	eq("oem id", tab.OEMID, unquote(h["Oem ID"]))
	eq("oem table id", tab.OEMTableID, unquote(h["Oem Table ID"]))
	eq("oem revision", uint64(tab.OEMRevision), hex(t, h["Oem Revision"]))
	eq("creator id", tab.CreatorID, unquote(h["Asl Compiler ID"]))
	eq("creator revision", uint64(tab.CreatorRevision), hex(t, h["Asl Compiler Revision"]))
	eq("host address width", uint64(tab.HostAddressWidth), hex(t, h["Host Address Width"]))
	eq("flags", uint64(tab.Flags), hex(t, h["Flags"]))

	scopes := func(what string, got []DeviceScope, want []dslScope) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: parser %d scopes, iasl %d", what, len(got), len(want))
			return
		}
		for i := range got {
			eq(what+" scope type", uint64(got[i].Type), want[i].Type)
			eq(what+" enumeration id", uint64(got[i].EnumerationID), want[i].Enum)
			eq(what+" start bus", uint64(got[i].StartBus), want[i].Bus)
			eq(what+" path", got[i].Path, want[i].Path)
		}
	}
	count := map[StructType]int{}
	for i, s := range d.Structs {
		typ := StructType(s.Type)
		n := count[typ]
		count[typ]++
		f := s.Fields
		what := typ.String() + "#" + strconv.Itoa(n)
		switch typ {
		case TypeDRHD:
			if n >= len(tab.DRHDs) {
				t.Fatalf("structure %d: iasl has %s, parser has %d DRHDs", i, what, len(tab.DRHDs))
			}
			g := tab.DRHDs[n]
			eq(what+" flags", uint64(g.Flags), hex(t, f["Flags"]))
			eq(what+" segment", uint64(g.Segment), hex(t, f["PCI Segment Number"]))
			eq(what+" base", g.RegisterBase, hex(t, f["Register Base Address"]))
			scopes(what, g.Scopes, s.Scopes)
		case TypeRMRR:
			if n >= len(tab.RMRRs) {
				t.Fatalf("structure %d: iasl has %s, parser has %d RMRRs", i, what, len(tab.RMRRs))
			}
			g := tab.RMRRs[n]
			eq(what+" segment", uint64(g.Segment), hex(t, f["PCI Segment Number"]))
			eq(what+" base", g.Base, hex(t, f["Base Address"]))
			eq(what+" limit", g.Limit, hex(t, f["End Address (limit)"]))
			scopes(what, g.Scopes, s.Scopes)
		case TypeATSR:
			if n >= len(tab.ATSRs) {
				t.Fatalf("structure %d: iasl has %s, parser has %d ATSRs", i, what, len(tab.ATSRs))
			}
			g := tab.ATSRs[n]
			eq(what+" flags", uint64(g.Flags), hex(t, f["Flags"]))
			eq(what+" segment", uint64(g.Segment), hex(t, f["PCI Segment Number"]))
			scopes(what, g.Scopes, s.Scopes)
		case TypeRHSA:
			if n >= len(tab.RHSAs) {
				t.Fatalf("structure %d: iasl has %s, parser has %d RHSAs", i, what, len(tab.RHSAs))
			}
			g := tab.RHSAs[n]
			eq(what+" base", g.RegisterBase, hex(t, f["Base Address"]))
			eq(what+" proximity", uint64(g.ProximityDomain), hex(t, f["Proximity Domain"]))
		case TypeANDD:
			if n >= len(tab.ANDDs) {
				t.Fatalf("structure %d: iasl has %s, parser has %d ANDDs", i, what, len(tab.ANDDs))
			}
			g := tab.ANDDs[n]
			eq(what+" device number", uint64(g.DeviceNumber), hex(t, f["Device Number"]))
			eq(what+" name", g.Name, unquote(f["Device Name"]))
		default:
			t.Errorf("iasl printed structure type %d that the test does not compare", s.Type)
		}
	}
	eq("DRHD count", len(tab.DRHDs), count[TypeDRHD])
	eq("RMRR count", len(tab.RMRRs), count[TypeRMRR])
	eq("ATSR count", len(tab.ATSRs), count[TypeATSR])
	eq("RHSA count", len(tab.RHSAs), count[TypeRHSA])
	eq("ANDD count", len(tab.ANDDs), count[TypeANDD])
}

// bridges is a fake host: bridge BDF -> secondary bus.
func bridges(m map[string]uint8) SecondaryBusFunc {
	return func(b xl.PciBdf) (uint8, bool) {
		s, ok := m[b.String()]
		return s, ok
	}
}

func bdf(seg uint16, bus, dev, fn uint8) xl.PciBdf {
	return xl.PciBdf{Domain: seg, Bus: bus, Dev: dev, Func: fn}
}

func TestDMARAgainstIASL(t *testing.T) {
	cases := []struct {
		name    string
		bridges map[string]uint8
		// want is what each RMRR must resolve to, written from the .asl
		// source and the bridge map by hand.
		want []Region
	}{
		{
			name:    "dmar-testbed",
			bridges: map[string]uint8{"0000:00:04.0": 0x01},
			want: []Region{
				{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{bdf(0, 0, 3, 0)}, Sources: []Source{SourceDMAR}},
				{StartPFN: 0x7ffdf, NrPages: 1, Devices: []xl.PciBdf{bdf(0, 1, 1, 0), bdf(0, 1, 2, 0)}, Sources: []Source{SourceDMAR}},
			},
		},
		{
			name:    "dmar-server",
			bridges: map[string]uint8{"0001:80:03.0": 0x81, "0001:81:00.0": 0x82},
			want: []Region{
				{StartPFN: 0x7b800, NrPages: 0x10, Devices: []xl.PciBdf{bdf(1, 0x82, 0, 1)}, Sources: []Source{SourceDMAR}},
				{StartPFN: 0xbf000, NrPages: 0x400, Devices: []xl.PciBdf{bdf(0, 0, 0x1c, 4)}, Sources: []Source{SourceDMAR}},
				{StartPFN: 0x100000, NrPages: 0x200, Devices: []xl.PciBdf{bdf(0, 0, 0x14, 0), bdf(0, 0, 0x1a, 0)}, Sources: []Source{SourceDMAR}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aml, dsl := compileASL(t, c.name)
			tab, err := ParseDMAR(aml)
			if err != nil {
				t.Fatalf("ParseDMAR: %v", err)
			}
			if !tab.ChecksumOK {
				t.Errorf("checksum of an iasl-built table reported bad")
			}
			checkAgainstIASL(t, tab, parseDSL(t, dsl))
			regs, errs := tab.Regions(bridges(c.bridges))
			if len(errs) != 0 {
				t.Errorf("resolution errors: %v", errs)
			}
			if !reflect.DeepEqual(regs, c.want) {
				t.Errorf("regions:\n got %+v\nwant %+v", regs, c.want)
			}
		})
	}
}

// withStructure appends a raw structure to a table and fixes its length
// and checksum.
func withStructure(tab, s []byte) []byte {
	out := append(append([]byte(nil), tab...), s...)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)))
	out[9] = 0
	var sum uint8
	for _, c := range out {
		sum += c
	}
	out[9] = -sum
	return out
}

func TestDMARUnknownStructureSkipped(t *testing.T) {
	aml, _ := compileASL(t, "dmar-testbed")
	base, err := ParseDMAR(aml)
	if err != nil {
		t.Fatal(err)
	}
	unk := []byte{0x7f, 0x00, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	b := withStructure(aml, unk)
	// And a real RMRR after it, to prove parsing went on past the unknown one.
	rmrr := make([]byte, 32)
	binary.LittleEndian.PutUint16(rmrr[0:], uint16(TypeRMRR))
	binary.LittleEndian.PutUint16(rmrr[2:], 32)
	binary.LittleEndian.PutUint64(rmrr[8:], 0xab800000)
	binary.LittleEndian.PutUint64(rmrr[16:], 0xabffffff)
	copy(rmrr[24:], []byte{1, 8, 0, 0, 0, 0, 0x14, 0})
	b = withStructure(b, rmrr)
	tab, err := ParseDMAR(b)
	if err != nil {
		t.Fatal(err)
	}
	if !tab.ChecksumOK {
		t.Error("checksum")
	}
	if len(tab.Unknown) != 1 || tab.Unknown[0].Type != 0x7f || tab.Unknown[0].Length != 12 || tab.Unknown[0].Offset != len(aml) {
		t.Errorf("unknown = %+v", tab.Unknown)
	}
	if len(tab.RMRRs) != len(base.RMRRs)+1 {
		t.Fatalf("%d RMRRs, want %d", len(tab.RMRRs), len(base.RMRRs)+1)
	}
	last := tab.RMRRs[len(tab.RMRRs)-1]
	reg, errs := last.Region(nil)
	if len(errs) != 0 || reg.StartPFN != 0xab800 || reg.NrPages != 0x800 || len(reg.Devices) != 1 || reg.Devices[0] != bdf(0, 0, 0x14, 0) {
		t.Errorf("appended RMRR = %+v %v", reg, errs)
	}
}

func TestDMARSignatures(t *testing.T) {
	aml, _ := compileASL(t, "dmar-testbed")
	for _, sig := range []string{"RMAD", "XMAR"} {
		b := append([]byte(nil), aml...)
		copy(b, sig)
		tab, err := ParseDMAR(b)
		if err != nil || tab.Signature != sig {
			t.Errorf("%s: %v %+v", sig, err, tab)
		}
		// RMAD is a permutation of DMAR's bytes: the checksum still holds.
		if sig == "RMAD" && !tab.ChecksumOK {
			t.Errorf("RMAD copy reported with a bad checksum")
		}
	}
	b := append([]byte(nil), aml...)
	copy(b, "APIC")
	if _, err := ParseDMAR(b); err == nil {
		t.Error("APIC table accepted as DMAR")
	}
}

func TestDMARMalformed(t *testing.T) {
	aml, _ := compileASL(t, "dmar-testbed")
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), aml...)) }
	cases := map[string][]byte{
		"short header":   aml[:20],
		"length past":    mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], uint32(len(b)+1)); return b }),
		"length tiny":    mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 40); return b }),
		"struct len 0":   mut(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[50:], 0); return b }),
		"struct len 3":   mut(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[50:], 3); return b }),
		"struct too big": mut(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[50:], 0xffff); return b }),
		"drhd too short": mut(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[50:], 8); return b }),
		// The first scope of the first DRHD is at 0x40: its length byte at 0x41.
		"scope len 0":    mut(func(b []byte) []byte { b[0x41] = 0; return b }),
		"scope len 7":    mut(func(b []byte) []byte { b[0x41] = 7; return b }),
		"scope len odd":  mut(func(b []byte) []byte { b[0x41] = 9; return b }),
		"scope past end": mut(func(b []byte) []byte { b[0x41] = 0x20; return b }),
		"trailing bytes": withStructure(aml, []byte{1, 0}),
	}
	for name, b := range cases {
		_, err := ParseDMAR(b)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a ParseError", name, err)
		}
	}
}

func TestScopeResolve(t *testing.T) {
	sec := bridges(map[string]uint8{"0000:00:1c.0": 2, "0000:02:00.0": 3})
	cases := []struct {
		s    DeviceScope
		want string
		err  bool
	}{
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: []PathEntry{{0x14, 0}}}, "0000:00:14.0", false},
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: []PathEntry{{0x1c, 0}, {0, 0}, {0, 3}}}, "0000:03:00.3", false},
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: []PathEntry{{0x1c, 1}, {0, 0}}}, "", true},
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: nil}, "", true},
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: []PathEntry{{0x20, 0}}}, "", true},
		{DeviceScope{Type: ScopeEndpoint, StartBus: 0, Path: []PathEntry{{0, 8}}}, "", true},
	}
	for _, c := range cases {
		got, err := c.s.Resolve(0, sec)
		if (err != nil) != c.err || (err == nil && got.String() != c.want) {
			t.Errorf("%s: got %v %v, want %q err=%v", c.s.PathString(), got, err, c.want, c.err)
		}
	}
	// A missing bridge is ErrUnresolved.
	_, err := cases[2].s.Resolve(0, sec)
	if !errors.Is(err, ErrUnresolved) {
		t.Errorf("err = %v", err)
	}
}

func TestRMRRPages(t *testing.T) {
	// Xen: start PFN_DOWN(base), PFN_UP(limit) - PFN_DOWN(base) pages.
	cases := []struct {
		base, limit  uint64
		start, pages uint64
	}{
		{0xf0000, 0xfffff, 0xf0, 0x10},
		{0x7ffdf000, 0x7ffdffff, 0x7ffdf, 1},
		{0x1000, 0x1000, 1, 0}, // a one-byte region at a page start: Xen's PFN_UP gives 0 pages
		{0x1000, 0x1001, 1, 1}, // one page
		{0x1800, 0x27ff, 1, 2}, // unaligned: both partial pages
		{0x2000, 0x1fff, 2, 0}, // base above limit: invalid
		{0x100000, 0x100000, 0x100, 0},
	}
	for _, c := range cases {
		r, _ := RMRR{Base: c.base, Limit: c.limit}.Region(nil)
		if r.StartPFN != c.start || r.NrPages != c.pages {
			t.Errorf("[%#x,%#x]: start %#x pages %#x, want %#x %#x", c.base, c.limit, r.StartPFN, r.NrPages, c.start, c.pages)
		}
	}
}

func TestReadDMARAndSysfsBridges(t *testing.T) {
	root := t.TempDir()
	tables := filepath.Join(root, "firmware", "acpi", "tables")
	if err := os.MkdirAll(tables, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadDMAR(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no table: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(tables, "RMAD"), []byte("RMAD-table"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, name, err := ReadDMAR(root)
	if err != nil || name != "RMAD" || string(b) != "RMAD-table" {
		t.Errorf("ReadDMAR = %q %q %v", b, name, err)
	}

	// A bridge (header type 1, multi-function bit set) with secondary bus 5
	// and an endpoint (header type 0).
	dev := func(bdf string, hdr, sec byte) {
		d := filepath.Join(root, "bus", "pci", "devices", bdf)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := make([]byte, 64)
		cfg[0x0e], cfg[0x19] = hdr, sec
		if err := os.WriteFile(filepath.Join(d, "config"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev("0000:00:1c.0", 0x81, 5)
	dev("0000:00:14.0", 0x00, 9)
	sec := SysfsSecondaryBus(root)
	if s, ok := sec(bdf(0, 0, 0x1c, 0)); !ok || s != 5 {
		t.Errorf("bridge: %d %v", s, ok)
	}
	if _, ok := sec(bdf(0, 0, 0x14, 0)); ok {
		t.Error("endpoint taken for a bridge")
	}
	if _, ok := sec(bdf(0, 0, 0x1d, 0)); ok {
		t.Error("missing device taken for a bridge")
	}
	got, err := DeviceScope{Type: ScopeEndpoint, Path: []PathEntry{{0x1c, 0}, {0, 0}}}.Resolve(0, sec)
	if err != nil || got != bdf(0, 5, 0, 0) {
		t.Errorf("resolve through sysfs: %v %v", got, err)
	}
}

func FuzzParseDMAR(f *testing.F) {
	if _, err := exec.LookPath("iasl"); err == nil {
		for _, n := range []string{"dmar-testbed", "dmar-server"} {
			aml, _ := compileASL(f, n)
			f.Add(aml)
		}
	}
	// A hand-made minimal table with one DRHD and one RMRR.
	min := make([]byte, 48)
	copy(min, "DMAR")
	drhd := []byte{0, 0, 24, 0, 1, 0, 0, 0, 0, 0, 0xd9, 0xfe, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 2, 0}
	rmrr := []byte{1, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0, 0, 0, 0, 0, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 3, 0}
	f.Add(withStructure(withStructure(min, drhd), rmrr))
	f.Add([]byte("DMAR"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := ParseDMAR(b)
		if tab == nil {
			if err == nil {
				t.Fatal("nil table without error")
			}
			return
		}
		// Resolution through a bridge map that answers every lookup must
		// stay bounded too.
		regs, _ := tab.Regions(func(x xl.PciBdf) (uint8, bool) { return x.Bus + 1, true })
		for _, r := range regs {
			if r.NrPages > 0 && r.End() <= r.Start() && r.End() != 0 {
				t.Fatalf("region %v wraps", r)
			}
			_ = r.String()
		}
		if err == nil && !bytes.Equal(b[:4], []byte(tab.Signature)) {
			t.Fatal("signature")
		}
	})
}
