package hotplug

import (
	"strings"
	"testing"

	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

// The testbed's RMRR: pages f0-ff (0xf0000) belong to nic1. A running
// 256 MiB HVM guest has RAM there.
func TestRdmPreflightStrictRefusesRelaxedWarns(t *testing.T) {
	w := newWorld(t, nil)
	// The region as the operator gives it on Xen's command line, gathered
	// by the real rdm.Finder.
	region := &rdm.Finder{NoDMAR: true, RMRR: []string{"0xf0-0xff=" + w.bdf["nic1"].String()}}
	w.ts.domains[1].cfg.Rdm = xl.RdmReserve{Strategy: xl.RdmStrategyIgnore, Policy: xl.RdmPolicyInvalid}
	w.svc.checks = []deviceCheck{{"rdm check", RdmCheck(region)}}
	w.ts.calls = nil
	_, err := w.attach("hvm1", "nic1", 6)
	mustFail(t, err, ErrRdmConflict, w.bdf["nic1"].String(), "rdm_policy=strict", "relaxed")
	w.noAdds()

	d := w.spec("nic1", 6)
	d.RdmPolicy = xl.RdmPolicyRelaxed
	res, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: d})
	if err != nil {
		t.Fatalf("relaxed: %v", err)
	}
	if len(res.Warnings) == 0 {
		t.Error("relaxed attach of a device with an RMRR in guest RAM gave no warning")
	}
	// PV guests have no guest-physical layout of that kind: no check.
	if _, err := w.attach("pv1", "nic2", 0); err != nil {
		t.Errorf("pv: %v", err)
	}
	// A device without regions passes with no warning.
	res, err = w.attach("hvm2", "nic3", 0)
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("device without regions: %v, warnings %q", err, res.Warnings)
	}
}

func TestMsiPreflightWarnsOnTranslateWithQemuXen(t *testing.T) {
	w := newWorld(t, nil)
	w.ts.domains[1].cfg.DeviceModelVersion = xl.DeviceModelQemuXen
	w.svc.checks = []deviceCheck{{"msi check", MsiCheck(w.host)}}
	d := w.spec("nic1", 0)
	d.Msitranslate = true
	res, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: d})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no effect") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
