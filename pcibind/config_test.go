package pcibind

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// cfgWith builds a config space of size n with a standard chain of
// (id, offset) pairs and an extended chain of (id, offset) pairs.
func cfgWith(n int, std [][2]int, ext [][2]int) Config {
	c := make(Config, n)
	binary.LittleEndian.PutUint16(c[RegVendorID:], 0x8086)
	if len(std) > 0 {
		binary.LittleEndian.PutUint16(c[RegStatus:], StatusCapList)
		c[RegCapPtr] = byte(std[0][1])
		for i, s := range std {
			c[s[1]] = byte(s[0])
			if i+1 < len(std) {
				c[s[1]+1] = byte(std[i+1][1])
			}
		}
	}
	for i, e := range ext {
		next := 0
		if i+1 < len(ext) {
			next = ext[i+1][1]
		}
		if e[1]+4 <= len(c) {
			binary.LittleEndian.PutUint32(c[e[1]:], uint32(e[0])|1<<16|uint32(next)<<20)
		}
	}
	return c
}

func TestCapsChain(t *testing.T) {
	c := cfgWith(4096, [][2]int{{CapPM, 0x40}, {CapMSI, 0x50}, {CapPCIe, 0x70}, {CapMSIX, 0xb0}},
		[][2]int{{ExtCapAER, 0x100}, {ExtCapACS, 0x148}, {ExtCapSRIOV, 0x160}})
	want := []Cap{{CapPM, 0x40, false}, {CapMSI, 0x50, false}, {CapPCIe, 0x70, false}, {CapMSIX, 0xb0, false},
		{ExtCapAER, 0x100, true}, {ExtCapACS, 0x148, true}, {ExtCapSRIOV, 0x160, true}}
	if got := c.Caps(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Caps() = %v, want %v", got, want)
	}
	if off, ok := c.FindCap(CapPCIe); !ok || off != 0x70 {
		t.Errorf("FindCap(PCIe) = %#x, %v", off, ok)
	}
	if _, ok := c.FindCap(CapAF); ok {
		t.Errorf("FindCap(AF) found a capability that is not there")
	}
	if off, ok := c.FindExtCap(ExtCapSRIOV); !ok || off != 0x160 {
		t.Errorf("FindExtCap(SRIOV) = %#x, %v", off, ok)
	}
	// The same bytes truncated to 256 have no extended list.
	if _, ok := c[:256].FindExtCap(ExtCapAER); ok {
		t.Errorf("extended capability found in a 256-byte config")
	}
	// And to 64 bytes: the chain pointer leads past the buffer.
	if got := c[:64].Caps(); len(got) != 0 {
		t.Errorf("64-byte config gave caps %v", got)
	}
}

func TestCapsHostile(t *testing.T) {
	// A standard loop: 0x40 -> 0x50 -> 0x40.
	c := cfgWith(256, [][2]int{{CapPM, 0x40}, {CapMSI, 0x50}}, nil)
	c[0x51] = 0x40
	if got := c.Caps(); len(got) != 2 {
		t.Errorf("loop: got %v, want the two caps once", got)
	}
	// Self loop with unaligned low bits: 0x40 -> 0x43 (masked to 0x40).
	c = cfgWith(256, [][2]int{{CapPM, 0x40}}, nil)
	c[0x41] = 0x43
	if got := c.Caps(); len(got) != 1 {
		t.Errorf("self loop: got %v", got)
	}
	// A pointer into the header ends the list.
	c = cfgWith(256, [][2]int{{CapPM, 0x40}}, nil)
	c[0x41] = 0x10
	if got := c.Caps(); len(got) != 1 {
		t.Errorf("pointer into header: got %v", got)
	}
	// Pointer 0xff is masked to 0xfc, where an all-ones ID ends the list.
	c = cfgWith(256, nil, nil)
	binary.LittleEndian.PutUint16(c[RegStatus:], StatusCapList)
	c[RegCapPtr] = 0xff
	c[0xfc] = 0xff
	if got := c.Caps(); len(got) != 0 {
		t.Errorf("pointer to all-ones: got %v", got)
	}
	// A 254-byte buffer: the header at 0xfc does not fit.
	c[0xfc] = CapPM
	if got := c[:0xfd].Caps(); len(got) != 0 {
		t.Errorf("truncated cap header: got %v", got)
	}
	// Extended loop: 0x100 -> 0x200 -> 0x100.
	c = cfgWith(4096, nil, [][2]int{{ExtCapAER, 0x100}, {ExtCapACS, 0x200}})
	binary.LittleEndian.PutUint32(c[0x200:], ExtCapACS|1<<16|0x100<<20)
	if got := c.Caps(); len(got) != 2 {
		t.Errorf("ext loop: got %v", got)
	}
	// Extended pointer backwards into the standard space ends the walk.
	c = cfgWith(4096, nil, [][2]int{{ExtCapAER, 0x100}})
	binary.LittleEndian.PutUint32(c[0x100:], ExtCapAER|1<<16|0x040<<20)
	if got := c.Caps(); len(got) != 1 {
		t.Errorf("ext backwards: got %v", got)
	}
	// Odd-sized buffers and all-ones never panic.
	for n := 0; n < 300; n++ {
		b := make(Config, n)
		for i := range b {
			b[i] = 0xff
		}
		b.Caps()
	}
}

func TestReadersBounded(t *testing.T) {
	c := Config{1, 2, 3}
	if v, ok := c.U16(1); !ok || v != 0x0302 {
		t.Errorf("U16(1) = %#x, %v", v, ok)
	}
	if _, ok := c.U16(2); ok {
		t.Errorf("U16(2) on 3 bytes succeeded")
	}
	if _, ok := c.U32(0); ok {
		t.Errorf("U32(0) on 3 bytes succeeded")
	}
	if _, ok := c.U8(-1); ok {
		t.Errorf("U8(-1) succeeded")
	}
	if Config(nil).VendorID() != 0xffff {
		t.Errorf("empty config should read vendor 0xffff")
	}
}
