package hotplug

import (
	"fmt"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
)

// checkIDs is the Sprintf it replaced, for any IDs.
func TestCheckIDsIsSprintf(t *testing.T) {
	for _, d := range []pcibind.Device{{}, {Vendor: 0x8086, Device: 0x1889, Class: 0x020000}, {Vendor: 0xffff, Device: 0xf, Class: 0x1ffffff}} {
		v, dv, c := checkIDs(&d)
		if v != fmt.Sprintf("%04x", d.Vendor) || dv != fmt.Sprintf("%04x", d.Device) || c != fmt.Sprintf("%06x", d.Class) {
			t.Errorf("%x %x %x: %q %q %q", d.Vendor, d.Device, d.Class, v, dv, c)
		}
	}
}
