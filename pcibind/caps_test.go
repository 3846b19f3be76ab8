package pcibind_test

import (
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

func TestDecodeEndpoint(t *testing.T) {
	b := pcitest.NewConfig(0x8086, 0x1521, 0x020000, 1, pcibind.HeaderNormal)
	pmOff := b.PM(true)
	b.MSI(3)
	eOff := b.PCIe(pcibind.PCIeEndpoint, true)
	b.MSIX(10, 3)
	b.AER()
	ariOff := b.ARI(1)
	srOff := b.SRIOV(8, 4, 0x80, 2, 0x1520)
	c := pcibind.Config(b.Bytes())
	d := c.Decode()

	if d.PM == nil || d.PM.Offset != pmOff || !d.PM.NoSoftReset || d.PM.Version != 3 {
		t.Errorf("PM = %+v, want offset %#x NoSoftReset version 3", d.PM, pmOff)
	}
	if d.PCIe == nil || d.PCIe.Offset != eOff || d.PCIe.Type != pcibind.PCIeEndpoint || !d.PCIe.FLR {
		t.Errorf("PCIe = %+v, want endpoint with FLR at %#x", d.PCIe, eOff)
	}
	if !d.MSI || !d.MSIX || !d.AER {
		t.Errorf("MSI %v MSIX %v AER %v, want all present", d.MSI, d.MSIX, d.AER)
	}
	if d.AF != nil || d.ACS != nil {
		t.Errorf("AF %v ACS %v present, not built", d.AF, d.ACS)
	}
	if d.ARI == nil || d.ARI.Offset != ariOff || d.ARI.NextFunc != 1 {
		t.Errorf("ARI = %+v", d.ARI)
	}
	s := d.SRIOV
	if s == nil || s.Offset != srOff || s.TotalVFs != 8 || s.NumVFs != 4 || s.VFOffset != 0x80 ||
		s.VFStride != 2 || s.VFDevice != 0x1520 || !s.VFEnable {
		t.Fatalf("SRIOV = %+v", s)
	}
	pf := xl.PciBdf{Bus: 3}
	for i, want := range []string{"0000:03:10.0", "0000:03:10.2", "0000:03:10.4"} {
		if vf, ok := s.VF(pf, i); !ok || vf.String() != want {
			t.Errorf("VF(%d) = %v, %v, want %s", i, vf, ok, want)
		}
	}
	// The routing ID carries from function into device into bus.
	if vf, ok := (pcibind.SRIOV{VFOffset: 1, VFStride: 1}).VF(xl.PciBdf{Bus: 3, Dev: 0x1f, Func: 7}, 0); !ok || vf.String() != "0000:04:00.0" {
		t.Errorf("VF carry = %v, %v, want 0000:04:00.0", vf, ok)
	}
	if _, ok := (pcibind.SRIOV{VFOffset: 0xffff}).VF(xl.PciBdf{Bus: 1}, 0); ok {
		t.Errorf("VF past the routing-ID space accepted")
	}
	if !d.FLR() {
		t.Errorf("FLR() false with DevCap FLR set")
	}
}

func TestDecodePorts(t *testing.T) {
	for _, tc := range []struct {
		typ          uint8
		acs          bool
		ctl          uint16
		isolating    bool
		conventional bool
	}{
		{pcibind.PCIeRootPort, true, pcibind.ACSIsolation, true, false},
		{pcibind.PCIeDownstreamPort, true, pcibind.ACSSV | pcibind.ACSRR, false, false},
		{pcibind.PCIeDownstreamPort, false, 0, false, false},
		{pcibind.PCIeToPCIBridge, false, 0, false, false},
	} {
		b := pcitest.NewConfig(0x10b5, 0x8747, 0x060400, 0, pcibind.HeaderBridge).Buses(1, 2, 5)
		b.PCIe(tc.typ, false)
		if tc.acs {
			b.ACS(0x7f, tc.ctl)
		}
		c := pcibind.Config(b.Bytes())
		d := c.Decode()
		if d.PCIe == nil || uint8(d.PCIe.Type) != tc.typ {
			t.Errorf("type %d: PCIe = %+v", tc.typ, d.PCIe)
			continue
		}
		if (d.ACS != nil) != tc.acs || d.ACS != nil && d.ACS.Isolating() != tc.isolating {
			t.Errorf("type %d: ACS = %+v, want present=%v isolating=%v", tc.typ, d.ACS, tc.acs, tc.isolating)
		}
		if p, s, sub, ok := c.BridgeBuses(); !ok || p != 1 || s != 2 || sub != 5 {
			t.Errorf("BridgeBuses = %d %d %d %v", p, s, sub, ok)
		}
		if d.FLR() {
			t.Errorf("FLR() true without FLR bits")
		}
	}
}

func TestDecodeConventionalAF(t *testing.T) {
	b := pcitest.NewConfig(0x1234, 0x5678, 0x0c0300, 0, pcibind.HeaderNormal)
	b.PM(false)
	b.AF(true)
	c := pcibind.Config(b.Bytes()[:256])
	d := c.Decode()
	if d.PCIe != nil || d.AF == nil || !d.AF.FLR || !d.FLR() || d.PM == nil || d.PM.NoSoftReset {
		t.Errorf("conventional AF device decoded as %+v (AF %+v PM %+v)", d, d.AF, d.PM)
	}
	// At 64 bytes (unprivileged read) nothing beyond the header is visible.
	d = c[:pcibind.ConfigSizeUser].Decode()
	if d.PM != nil || d.AF != nil {
		t.Errorf("64-byte config decoded capabilities: %+v", d)
	}
}

// FuzzCaps checks the walker's invariants on arbitrary bytes: it returns,
// every capability lies inside the buffer in its own region, no offset
// repeats, and FindCap/FindExtCap agree with Caps.
func FuzzCaps(f *testing.F) {
	b := pcitest.NewConfig(0x8086, 0x1521, 0x020000, 1, pcibind.HeaderNormal)
	b.PM(true)
	b.MSI(3)
	b.PCIe(pcibind.PCIeEndpoint, true)
	b.MSIX(10, 3)
	b.AF(true)
	b.AER()
	b.ACS(0x7f, 0x1d)
	b.ARI(1)
	b.SRIOV(8, 4, 0x80, 2, 0x1520)
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:256])
	f.Add(b.Bytes()[:64])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := pcibind.Config(data)
		caps := c.Caps()
		seen := map[int]bool{}
		firstStd := map[uint16]int{}
		firstExt := map[uint16]int{}
		for _, cp := range caps {
			if seen[cp.Offset] {
				t.Fatalf("offset %#x visited twice: %v", cp.Offset, caps)
			}
			seen[cp.Offset] = true
			if cp.Offset%4 != 0 {
				t.Fatalf("unaligned capability %v", cp)
			}
			if cp.Extended {
				if cp.Offset < 0x100 || cp.Offset+4 > len(data) {
					t.Fatalf("extended cap out of range: %v (len %d)", cp, len(data))
				}
				if _, ok := firstExt[cp.ID]; !ok {
					firstExt[cp.ID] = cp.Offset
				}
			} else {
				if cp.Offset < 0x40 || cp.Offset+2 > len(data) || cp.Offset >= 0x100 {
					t.Fatalf("standard cap out of range: %v (len %d)", cp, len(data))
				}
				if _, ok := firstStd[cp.ID]; !ok {
					firstStd[cp.ID] = cp.Offset
				}
			}
		}
		for id, off := range firstStd {
			if got, ok := c.FindCap(uint8(id)); !ok || got != off {
				t.Fatalf("FindCap(%#x) = %#x,%v; Caps says %#x", id, got, ok, off)
			}
		}
		for id, off := range firstExt {
			if got, ok := c.FindExtCap(id); !ok || got != off {
				t.Fatalf("FindExtCap(%#x) = %#x,%v; Caps says %#x", id, got, ok, off)
			}
		}
	})
}

// FuzzDecode runs every decoder on arbitrary bytes: no panic, and each
// decoded capability sits where the walker found it.
func FuzzDecode(f *testing.F) {
	b := pcitest.NewConfig(0x10b5, 0x8747, 0x060400, 0, pcibind.HeaderBridge)
	b.PM(false)
	b.PCIe(pcibind.PCIeDownstreamPort, false)
	b.ACS(0x7f, 0x1d)
	b.SRIOV(64, 64, 1, 1, 0x10ed)
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:300])
	f.Fuzz(func(t *testing.T, data []byte) {
		c := pcibind.Config(data)
		d := c.Decode()
		if d.PCIe != nil {
			if off, _ := c.FindCap(pcibind.CapPCIe); off != d.PCIe.Offset {
				t.Fatalf("PCIe offset %#x, FindCap %#x", d.PCIe.Offset, off)
			}
			_ = d.PCIe.Type.String()
		}
		if d.SRIOV != nil {
			if d.SRIOV.Offset+0x1c > len(data) {
				t.Fatalf("SR-IOV decoded past the buffer")
			}
			for i := 0; i < 4; i++ {
				_, _ = d.SRIOV.VF(xl.PciBdf{Bus: 0xff, Dev: 0x1f, Func: 7}, i)
			}
		}
		c.BridgeBuses()
		_ = d.FLR()
		_ = c.Class()
		_ = c.MultiFunction()
	})
}
