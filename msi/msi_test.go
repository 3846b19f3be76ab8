package msi

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
)

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// msiBody builds an MSI capability body (after ID and next pointer).
func msiBody(ctl uint16, addr uint64, data uint16, mask, pending uint32) []byte {
	b := le16(ctl)
	b = append(b, le32(uint32(addr))...)
	if ctl&msi64Bit != 0 {
		b = append(b, le32(uint32(addr>>32))...)
	}
	b = append(b, le16(data)...)
	if ctl&msiPerVector != 0 {
		b = append(b, 0, 0) // reserved up to the mask dword
		b = append(b, le32(mask)...)
		b = append(b, le32(pending)...)
	}
	return b
}

func msixBody(ctl uint16, table, pba uint32) []byte {
	return append(append(le16(ctl), le32(table)...), le32(pba)...)
}

func TestDecodeMSI(t *testing.T) {
	cases := []struct {
		name string
		ctl  uint16
		want MSI
	}{
		{"32-bit single, disabled", 0x0000, MSI{Capable: 1, Allocated: 1, Address: 0xfee00000, Data: 0x4021}},
		{"64-bit, 4 capable, 2 enabled, enabled", 0x0001 | 2<<1 | 1<<4 | msi64Bit,
			MSI{Enabled: true, Is64Bit: true, Capable: 4, Allocated: 2, Address: 0x1fee00000, Data: 0x4021}},
		{"32-bit with per-vector masking", msiPerVector | 5<<1 | 5<<4 | msiEnable,
			MSI{Enabled: true, PerVectorMask: true, Capable: 32, Allocated: 32, Address: 0xfee00000, Data: 0x4021, Mask: 0xf0f0f0f0, Pending: 0x3}},
		{"64-bit with per-vector masking", msiPerVector | msi64Bit | 3<<1,
			MSI{Is64Bit: true, PerVectorMask: true, Capable: 8, Allocated: 1, Address: 0x1fee00000, Data: 0x4021, Mask: 0xf0f0f0f0, Pending: 0x3}},
		{"reserved encodings", 7<<1 | 6<<4,
			MSI{Capable: 128, Allocated: 64, CapableReserved: true, AllocatedReserved: true, Address: 0xfee00000, Data: 0x4021}},
	}
	for _, c := range cases {
		cb := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
		cb.PM(false)
		off := cb.Cap(pcibind.CapMSI, msiBody(c.ctl, 0x1fee00000, 0x4021, 0xf0f0f0f0, 3))
		cfg := pcibind.Config(cb.Bytes()[:256])
		got, ok := DecodeMSI(cfg)
		if !ok {
			t.Fatalf("%s: no MSI", c.name)
		}
		c.want.Offset, c.want.Control = off, c.ctl
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
		if _, ok := DecodeMSIX(cfg); ok {
			t.Errorf("%s: MSI-X found where there is none", c.name)
		}
		// Size matches what the builder laid out (2 header bytes + body).
		if got.Size() != 2+len(msiBody(c.ctl, 0, 0, 0, 0)) {
			t.Errorf("%s: size %d", c.name, got.Size())
		}
	}
}

func TestDecodeMSIX(t *testing.T) {
	cb := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
	cb.MSI(0)
	off := cb.Cap(pcibind.CapMSIX, msixBody(msixEnable|msixFunctionMask|4, 0x0000_0003, 0x2000|3))
	caps := Decode(pcibind.Config(cb.Bytes()))
	want := MSIX{Offset: off, Control: msixEnable | msixFunctionMask | 4, Enabled: true, FunctionMask: true,
		TableSize: 5, TableBIR: 3, TableOffset: 0, PBABIR: 3, PBAOffset: 0x2000}
	if caps.MSIX == nil || *caps.MSIX != want {
		t.Fatalf("got %+v, want %+v", caps.MSIX, want)
	}
	if caps.MSI == nil || !caps.Any() {
		t.Fatal("MSI lost")
	}
	if p := caps.MSIX.Problems(); len(p) != 0 {
		t.Errorf("problems %v", p)
	}
	// 2048 vectors (field 0x7ff), table in BAR 0 at 0x800000, PBA in BAR 0
	// at 0x3000 which the 32 KiB table covers.
	bad := MSIX{TableSize: 2048, TableBIR: 0, TableOffset: 0, PBABIR: 0, PBAOffset: 0x3000}
	if p := bad.Problems(); len(p) != 1 || !strings.Contains(p[0], "overlap") {
		t.Errorf("overlap not found: %v", p)
	}
	if p := (MSIX{TableSize: 1, TableBIR: 6, PBABIR: 7, PBAOffset: 0x1000}).Problems(); len(p) != 2 {
		t.Errorf("reserved BIRs: %v", p)
	}
}

func TestDecodeShortConfig(t *testing.T) {
	// An unprivileged reader gets 64 bytes: a capability list starting
	// at 0x40 is then invisible; one at 0x34.. inside is cut short.
	cb := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
	cb.MSI(2)
	if c := Decode(pcibind.Config(cb.Bytes()[:64])); c.Any() {
		t.Errorf("caps beyond 64 bytes decoded: %+v", c)
	}
	full := append([]byte(nil), cb.Bytes()[:256]...)
	for n := 0x40; n < 0x40+0x18; n++ {
		m, ok := DecodeMSI(pcibind.Config(full[:n]))
		if ok && n < 0x40+0x0e && !m.Truncated {
			t.Errorf("%d bytes: 64-bit MSI not flagged truncated: %+v", n, m)
		}
	}
	cb2 := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
	off := cb2.MSIX(8, 2)
	for n := off + 2; n < off+12; n++ {
		x, ok := DecodeMSIX(pcibind.Config(cb2.Bytes()[:n]))
		if ok && !x.Truncated {
			t.Errorf("%d bytes: MSI-X not flagged truncated", n)
		}
	}
}

// lspciView is what `lspci -vvv -F dump` prints for one function.
type lspciView struct {
	msi, msix     bool
	msiOff        int
	msiEnable     bool
	msiCount      string // "2/4"
	msiMaskable   bool
	msi64         bool
	msiAddr       uint64
	msiData       uint64
	msiMask       uint64
	msiPending    uint64
	msixOff       int
	msixEnable    bool
	msixCount     int
	msixMasked    bool
	tableBAR      int
	tableOff      uint64
	pbaBAR        int
	pbaOff        uint64
	sawMasking    bool
	sawVectorLine bool
}

var (
	reLsDev   = regexp.MustCompile(`^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) `)
	reLsMSI   = regexp.MustCompile(`^\tCapabilities: \[([0-9a-f]+)\] MSI: Enable([+-]) Count=(\d+/\d+) Maskable([+-]) 64bit([+-])`)
	reLsAddr  = regexp.MustCompile(`^\t\tAddress: ([0-9a-f]+)  Data: ([0-9a-f]+)`)
	reLsMask  = regexp.MustCompile(`^\t\tMasking: ([0-9a-f]+)  Pending: ([0-9a-f]+)`)
	reLsMSIX  = regexp.MustCompile(`^\tCapabilities: \[([0-9a-f]+)\] MSI-X: Enable([+-]) Count=(\d+) Masked([+-])`)
	reLsTable = regexp.MustCompile(`^\t\tVector table: BAR=(\d+) offset=([0-9a-f]+)`)
	reLsPBA   = regexp.MustCompile(`^\t\tPBA: BAR=(\d+) offset=([0-9a-f]+)`)
)

// TestAgainstLspci builds random MSI/MSI-X capabilities, has lspci decode
// them from an `lspci -x`-style dump, and compares field by field.
func TestAgainstLspci(t *testing.T) {
	if _, err := exec.LookPath("lspci"); err != nil {
		t.Skip("lspci not installed (apt-get install pciutils)")
	}
	rng := rand.New(rand.NewSource(7))
	const n = 200
	cfgs := make([]pcibind.Config, n)
	var dump strings.Builder
	for i := 0; i < n; i++ {
		cb := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
		if rng.Intn(2) == 0 {
			cb.PM(false)
		}
		if rng.Intn(4) != 0 {
			ctl := uint16(rng.Intn(0x200)) // enable, MMC, MME, 64-bit, per-vector bits
			cb.Cap(pcibind.CapMSI, msiBody(ctl, rng.Uint64()&0xffff_ffff_ffff_fffc, uint16(rng.Intn(0x10000)), rng.Uint32(), rng.Uint32()))
		}
		if rng.Intn(4) != 0 {
			ctl := uint16(rng.Intn(0x800)) | uint16(rng.Intn(4))<<14
			cb.Cap(pcibind.CapMSIX, msixBody(ctl, rng.Uint32()&^0x7|uint32(rng.Intn(6)), rng.Uint32()&^0x7|uint32(rng.Intn(6))))
		}
		cfg := pcibind.Config(cb.Bytes()[:256])
		cfgs[i] = cfg
		fmt.Fprintf(&dump, "%02x:%02x.%x Ethernet controller: test\n", i/32, i%32, 0)
		for o := 0; o < 256; o += 16 {
			fmt.Fprintf(&dump, "%02x:", o)
			for _, b := range cfg[o : o+16] {
				fmt.Fprintf(&dump, " %02x", b)
			}
			dump.WriteString("\n")
		}
		dump.WriteString("\n")
	}
	file := filepath.Join(t.TempDir(), "dump")
	if err := os.WriteFile(file, []byte(dump.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("lspci", "-vvv", "-F", file).Output()
	if err != nil {
		t.Fatalf("lspci: %v", err)
	}
	views := make([]*lspciView, n)
	var cur *lspciView
	num := func(s string, base int) uint64 {
		v, err := strconv.ParseUint(s, base, 64)
		if err != nil {
			t.Fatalf("lspci number %q: %v", s, err)
		}
		return v
	}
	for _, line := range strings.Split(string(out), "\n") {
		if m := reLsDev.FindStringSubmatch(line); m != nil {
			i := int(num(m[1], 16))*32 + int(num(m[2], 16))
			cur = &lspciView{}
			views[i] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if m := reLsMSI.FindStringSubmatch(line); m != nil {
			cur.msi, cur.msiOff, cur.msiEnable, cur.msiCount, cur.msiMaskable, cur.msi64 = true, int(num(m[1], 16)), m[2] == "+", m[3], m[4] == "+", m[5] == "+"
		} else if m := reLsAddr.FindStringSubmatch(line); m != nil {
			cur.msiAddr, cur.msiData = num(m[1], 16), num(m[2], 16)
		} else if m := reLsMask.FindStringSubmatch(line); m != nil {
			cur.sawMasking, cur.msiMask, cur.msiPending = true, num(m[1], 16), num(m[2], 16)
		} else if m := reLsMSIX.FindStringSubmatch(line); m != nil {
			cur.msix, cur.msixOff, cur.msixEnable, cur.msixCount, cur.msixMasked = true, int(num(m[1], 16)), m[2] == "+", int(num(m[3], 10)), m[4] == "+"
		} else if m := reLsTable.FindStringSubmatch(line); m != nil {
			cur.sawVectorLine, cur.tableBAR, cur.tableOff = true, int(num(m[1], 10)), num(m[2], 16)
		} else if m := reLsPBA.FindStringSubmatch(line); m != nil {
			cur.pbaBAR, cur.pbaOff = int(num(m[1], 10)), num(m[2], 16)
		}
	}
	compared := 0
	for i, cfg := range cfgs {
		v := views[i]
		if v == nil {
			t.Fatalf("lspci did not print function %d", i)
		}
		c := Decode(cfg)
		check := func(what string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("function %d %s: decoded %v, lspci %v", i, what, got, want)
			}
		}
		check("has MSI", c.MSI != nil, v.msi)
		check("has MSI-X", c.MSIX != nil, v.msix)
		if m := c.MSI; m != nil && v.msi {
			compared++
			check("MSI offset", m.Offset, v.msiOff)
			check("MSI enable", m.Enabled, v.msiEnable)
			check("MSI count", fmt.Sprintf("%d/%d", m.Allocated, m.Capable), v.msiCount)
			check("MSI maskable", m.PerVectorMask, v.msiMaskable)
			check("MSI 64bit", m.Is64Bit, v.msi64)
			check("MSI address", m.Address, v.msiAddr)
			check("MSI data", uint64(m.Data), v.msiData)
			check("MSI masking line", m.PerVectorMask, v.sawMasking)
			if m.PerVectorMask {
				check("MSI mask", uint64(m.Mask), v.msiMask)
				check("MSI pending", uint64(m.Pending), v.msiPending)
			}
		}
		if x := c.MSIX; x != nil && v.msix {
			compared++
			check("MSI-X offset", x.Offset, v.msixOff)
			check("MSI-X enable", x.Enabled, v.msixEnable)
			check("MSI-X count", x.TableSize, v.msixCount)
			check("MSI-X masked", x.FunctionMask, v.msixMasked)
			check("MSI-X table BAR", int(x.TableBIR), v.tableBAR)
			check("MSI-X table offset", uint64(x.TableOffset), v.tableOff)
			check("MSI-X PBA BAR", int(x.PBABIR), v.pbaBAR)
			check("MSI-X PBA offset", uint64(x.PBAOffset), v.pbaOff)
		}
	}
	if compared < n {
		t.Errorf("only %d capabilities compared", compared)
	}
	t.Logf("%d functions, %d capabilities compared with lspci", n, compared)
}

func FuzzDecode(f *testing.F) {
	cb := pcitest.NewConfig(0x8086, 0x10d3, 0x020000, 0, pcibind.HeaderNormal)
	cb.PM(false)
	cb.MSI(3)
	cb.MSIX(64, 2)
	f.Add(cb.Bytes()[:256])
	f.Add(cb.Bytes()[:64])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Decode(pcibind.Config(b))
		if m := c.MSI; m != nil {
			if m.Offset < 0x40 || m.Offset >= len(b) {
				t.Fatalf("MSI offset %#x in %d bytes", m.Offset, len(b))
			}
			// An unreadable control register leaves the counts unknown (0).
			if (m.Capable < 1 || m.Capable > 128 || m.Allocated < 1 || m.Allocated > 128) && !(m.Truncated && m.Control == 0 && m.Capable == 0) {
				t.Fatalf("vector counts %d/%d", m.Allocated, m.Capable)
			}
			if !m.Truncated && m.Offset+m.Size() > len(b) {
				t.Fatalf("MSI of %d bytes at %#x not truncated in %d bytes", m.Size(), m.Offset, len(b))
			}
		}
		if x := c.MSIX; x != nil {
			if x.Offset < 0x40 || x.Offset >= len(b) {
				t.Fatalf("MSI-X offset %#x in %d bytes", x.Offset, len(b))
			}
			if x.TableBIR > 7 || x.PBABIR > 7 || x.TableOffset&7 != 0 || x.PBAOffset&7 != 0 {
				t.Fatalf("MSI-X %+v", x)
			}
			_ = x.Problems()
		}
		for _, dm := range []string{"", QemuXen, QemuXenTraditional} {
			tr := Resolve(TranslateInput{Global: len(b)%2 == 0, HVM: true, DeviceModel: dm, Caps: c, IsVF: len(b)%3 == 0})
			if tr.Effective && (dm != QemuXenTraditional || c.MSI == nil) {
				t.Fatalf("translation effective with %q and MSI %v", dm, c.MSI != nil)
			}
		}
	})
}
