package rdm

import (
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

func TestSettingsGuest(t *testing.T) {
	d := xl.NewDevicePci()
	d.PciBdf, d.VfuncMask = xl.PciBdf{Bus: 3}, 1
	relaxed := d
	relaxed.RdmPolicy = xl.RdmPolicyRelaxed
	s := Settings{MemoryMiB: 1024, Rdm: "strategy=host,policy=strict", RdmSet: true, AsXL: true, Devices: []xl.DevicePci{d, relaxed}}
	g, warnings, err := s.Guest()
	if err != nil {
		t.Fatal(err)
	}
	// xl 4.17 drops the policy: its default, relaxed, is copied into the
	// entry without one; the entry's own policy stays.
	if g.Devices[0].RdmPolicy != g.Rdm.Policy || g.Devices[1].RdmPolicy != xl.RdmPolicyRelaxed || len(warnings) == 0 ||
		!strings.Contains(strings.Join(warnings, "\n"), "predicting xl create") {
		t.Errorf("as xl: %+v %q", g, warnings)
	}
	s.AsXL = false
	if g, _, _ = s.Guest(); g.Rdm.Policy != xl.RdmPolicyStrict || g.Devices[0].RdmPolicy != xl.RdmPolicyStrict || g.EffectivePolicy() != xl.RdmPolicyStrict {
		t.Errorf("as written: %+v", g)
	}
	if _, _, err := (Settings{Rdm: "policy=odd", RdmSet: true}).Guest(); err == nil {
		t.Error("a malformed rdm= accepted")
	}
	if g := (Guest{Rdm: xl.RdmReserve{Policy: xl.RdmPolicyInvalid}}); g.EffectivePolicy() != xl.RdmPolicyRelaxed || g.BoundaryMiB() != DefaultMemBoundaryMiB {
		t.Errorf("defaults: %v %d", g.EffectivePolicy(), g.BoundaryMiB())
	}
}

func TestOfDevices(t *testing.T) {
	a, b := xl.PciBdf{Bus: 3}, xl.PciBdf{Bus: 4}
	regs := []Region{{StartPFN: 1, Devices: []xl.PciBdf{a}}, {StartPFN: 2, Devices: []xl.PciBdf{b}}, {StartPFN: 3}}
	if got := OfDevices(regs, []xl.PciBdf{b}); len(got) != 1 || got[0].StartPFN != 2 {
		t.Errorf("%v", got)
	}
}
