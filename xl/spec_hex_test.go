package xl

import "testing"

// libxlutil reads numbers with glibc's %x, which takes a "0x" prefix: an
// xl.cfg with @0x7 or vslot=0x6 works with xl create, so xlpt reads it with
// the same value. "@0" stays refused (xl turns it into "any slot").
func TestSpecHexPrefix(t *testing.T) {
	for spec, slot := range map[string]uint8{
		"01:00.0@0x7":           7,
		"01:00.0@0X1f":          0x1f,
		"01:00.0,vslot=0x6":     6,
		"bdf=01:00.0,vslot=0x6": 6,
		"01:0x2.0x1@07":         7,
	} {
		d, err := ParseSpec(spec)
		if err != nil || d.VSlot() != slot {
			t.Errorf("ParseSpec(%q) = slot %#x, %v; want slot %#x", spec, d.VSlot(), err, slot)
		}
	}
	if d, err := ParseSpec("01:0x2.0x1"); err != nil || d.Dev != 2 || d.Func != 1 {
		t.Errorf("01:0x2.0x1: %+v, %v", d, err)
	}
	for _, spec := range []string{"01:00.0@0", "01:00.0@0x0", "01:00.0@0x", "01:00.0@0x20", "0x01:00.0"} {
		if _, err := ParseSpec(spec); err == nil {
			t.Errorf("ParseSpec(%q) accepted", spec)
		}
	}
}
