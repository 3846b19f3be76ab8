package hotplug

import (
	"errors"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

// A spec's msitranslate= overrides the guest's; a spec without one
// leaves it to the guest; a spec naming no one function is refused as
// malformed input.
func TestMSIDeviceOf(t *testing.T) {
	it, err := MSIDeviceOf("03:00.1,msitranslate=0")
	if err != nil || it.BDF != (xl.PciBdf{Bus: 3, Func: 1}) || it.Msitranslate == nil || *it.Msitranslate {
		t.Errorf("msitranslate=0: %+v %v", it, err)
	}
	if it, err = MSIDeviceOf("0000:03:00.0"); err != nil || it.Msitranslate != nil {
		t.Errorf("no msitranslate=: %+v %v", it, err)
	}
	for _, s := range []string{"03:00.*", "name=gpu"} {
		if _, err := MSIDeviceOf(s); !errors.Is(err, ErrBadRequest) || err.Error() != `"`+s+`": give one function's BDF` {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := MSIDeviceOf("03:00.0,permissive=true"); !errors.Is(err, xl.ErrMalformedSpec) {
		t.Errorf("a misread spec: %v", err)
	}
}
