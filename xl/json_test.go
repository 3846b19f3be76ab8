package xl

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDevicePciJSONUsesLibxlNames(t *testing.T) {
	d, err := ParseSpec("03:00.1@5,permissive=1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"domain":0,"bus":3,"dev":0,"func":1,"vdevfn":40,"vfunc_mask":1,"msitranslate":false,` +
		`"power_mgmt":false,"permissive":true,"seize":false,"rdm_policy":null,"name":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	for _, spec := range []string{"name=gpu,rdm_policy=relaxed", "ffff:ff:1f.*@1f,seize=1,rdm_policy=strict"} {
		d, err := ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d)
		var back DevicePci
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Errorf("%s: round trip via %s gave %+v, %v", spec, b, back, err)
		}
	}
	var bad DevicePci
	if err := json.Unmarshal([]byte(`{"rdm_policy":"loose"}`), &bad); err == nil || !strings.Contains(err.Error(), "loose") {
		t.Errorf("bad rdm_policy accepted: %v", err)
	}
}

func TestParseSpecFromKeepsGuestDefaults(t *testing.T) {
	base := NewDevicePci()
	base.Permissive, base.Msitranslate, base.RdmPolicy = true, true, RdmPolicyRelaxed
	d, err := ParseSpecFrom(base, "01:00.0,msitranslate=0")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Permissive || d.Msitranslate || d.RdmPolicy != RdmPolicyRelaxed {
		t.Errorf("%+v: want the guest's permissive and rdm policy, the spec's msitranslate=0", d)
	}
	if _, err := ParseSpecFrom(base, "01:00.0,seize=on"); err == nil {
		t.Error("misread accepted")
	}
}

// String (and AppendText) is fmt's %04x:%02x:%02x.%x, written by hand.
func TestPciBdfStringIsFmt(t *testing.T) {
	for _, b := range []PciBdf{{}, {0xffff, 0xff, 0x1f, 7}, {1, 2, 3, 4}, {0xabc, 0x0a, 0x10, 0}, {0, 0, 0xff, 0xff}} {
		want := fmt.Sprintf("%04x:%02x:%02x.%x", b.Domain, b.Bus, b.Dev, b.Func)
		text, _ := b.AppendText([]byte("x"))
		if b.String() != want || string(text) != "x"+want {
			t.Errorf("%#v: String %q, AppendText %q, want %q", b, b.String(), text, want)
		}
	}
}
