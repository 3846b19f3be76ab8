package xl

import (
	"errors"
	"strings"
	"testing"
)

func TestMergeOptions(t *testing.T) {
	for _, c := range []struct {
		spec, opts, want, err string
	}{
		{"0:2:0.0", "msitranslate=0", "0:2:0.0,msitranslate=0", ""},
		{"0:2:0.0@7", "msitranslate=1,power_mgmt=1", "0:2:0.0@7,msitranslate=1,power_mgmt=1", ""},
		{"0:2:0.0", "", "0:2:0.0", ""},
		{"0:2:0.0,msitranslate=1", "msitranslate=0", "", `msitranslate given twice: "msitranslate=1" in the spec "0:2:0.0,msitranslate=1" and "msitranslate=0" in -o`},
		{"0:2:0.0", "msitranslate", "", "options are KEY=VALUE"},
		{"0:2:0.0", "bogus=1", "", `-o "bogus=1": malformed PCI_SPEC_STRING "0:2:0.0,bogus=1": unknown option "bogus"`},
		{"0:2:0.0", "permissive=yes", "", "permissive=0"},
		{"0:2:0.0,foo", "msitranslate=0", "", `"foo" is not key=value`},
	} {
		got, err := MergeOptions(c.spec, c.opts)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("MergeOptions(%q, %q) = %q, %v; want %q, error %q", c.spec, c.opts, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, ErrMalformedSpec) {
			t.Errorf("MergeOptions(%q, %q): %v is not ErrMalformedSpec", c.spec, c.opts, err)
		}
	}
}

// SpecKeys reads with the grammar: name=a is one item however it looks.
func TestSpecKeys(t *testing.T) {
	got, err := SpecKeys("01:00.0@3,msitranslate=1,permissive=0,msitranslate=1")
	if err != nil || len(got) != 2 || got["msitranslate"] != "msitranslate=1" || got["permissive"] != "permissive=0" {
		t.Errorf("%v %v", got, err)
	}
	if got, err := SpecKeys("name=msitranslate"); err != nil || len(got) != 1 || got["name"] != "name=msitranslate" {
		t.Errorf("name=msitranslate: %v %v", got, err)
	}
	if _, err := SpecKeys("01:00.0,bogus=1"); !errors.Is(err, ErrMalformedSpec) {
		t.Errorf("bogus key: %v", err)
	}
}

func TestParseSpecSlot(t *testing.T) {
	for _, c := range []struct {
		spec, vslot string
		slot        uint8
		err         string
	}{
		{"01:00.0", "", 0, ""},
		{"01:00.0", "7", 7, ""},
		{"01:00.0", "0x1f", 0x1f, ""},
		{"01:00.0@7", "07", 7, ""},
		{"01:00.0@6", "7", 0, `virtual slot given twice: "01:00.0@6" in the spec and "7" as VSLOT`},
		{"01:00.0", "20", 0, `VSLOT "20": a guest slot is hex 1-1f`},
		{"01:00.0", "0", 0, "VSLOT"},
		{"01:00.0,x=1", "7", 0, "malformed"},
	} {
		d, err := ParseSpecSlot(c.spec, c.vslot)
		if c.err == "" && (err != nil || d.VSlot() != c.slot) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrMalformedSpec)) {
			t.Errorf("ParseSpecSlot(%q, %q) = slot %x, %v; want %x, error %q", c.spec, c.vslot, d.VSlot(), err, c.slot, c.err)
		}
	}
}

func TestParseDeviceArg(t *testing.T) {
	if d, err := ParseDeviceArg("03:00.1"); err != nil || d.VfuncMask != 1 || d.PciBdf != (PciBdf{Bus: 3, Func: 1}) {
		t.Errorf("BDF: %+v %v", d, err)
	}
	if d, err := ParseDeviceArg("nic1"); err != nil || d.VfuncMask != 0 || d.Name != "nic1" {
		t.Errorf("name: %+v %v", d, err)
	}
	for arg, msg := range map[string]string{"03:00.*": `"03:00.*": name one function`, "03:0g.0": "malformed PCI_SPEC_STRING", "1:2:3:4": "not a BDF"} {
		if _, err := ParseDeviceArg(arg); err == nil || !strings.Contains(err.Error(), msg) || !errors.Is(err, ErrMalformedSpec) {
			t.Errorf("%s: %v; want a malformed-spec error saying %q", arg, err, msg)
		}
	}
}

func TestFunctionsAndJoin(t *testing.T) {
	fs := PciBdf{Bus: 3, Dev: 2, Func: 5}.Functions()
	if len(fs) != 8 || fs[0] != (PciBdf{Bus: 3, Dev: 2}) || fs[7] != (PciBdf{Bus: 3, Dev: 2, Func: 7}) {
		t.Errorf("Functions: %v", fs)
	}
	if got := JoinBdfs(fs[:2]); got != "0000:03:02.0, 0000:03:02.1" {
		t.Errorf("JoinBdfs: %q", got)
	}
	if got := JoinBdfs(nil); got != "" {
		t.Errorf("JoinBdfs(nil): %q", got)
	}
}

func TestSameDeviceAndDescribe(t *testing.T) {
	spec := func(s string) DevicePci {
		d, err := ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"03:00.1", "0000:03:00.1@6,permissive=1", true},
		{"03:00.*", "03:00.3", true},
		{"03:00.0", "03:00.1", false},
		{"name=a", "name=a", true},
		{"name=a", "03:00.0", false},
	} {
		if got := spec(c.a).SameDevice(spec(c.b)); got != c.same {
			t.Errorf("%s vs %s: %v", c.a, c.b, got)
		}
	}
	if got := spec("name=gpu").Describe(); got != `the device named "gpu"` {
		t.Errorf("Describe: %q", got)
	}
	if got := spec("03:00.1").Describe(); got != "0000:03:00.1" {
		t.Errorf("Describe: %q", got)
	}
}
