package hotplug

import (
	"strings"
	"testing"

	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
	"github.com/xlpt/xlpt/xlcfg"
)

func checkCfg(t *testing.T, w *world, text string, regions []rdm.Region) GuestReport {
	t.Helper()
	for name, b := range w.bdf {
		text = strings.ReplaceAll(text, "<"+name+">", b.String())
	}
	f, err := xlcfg.Parse(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	g, pre := ReadGuestConfig(f)
	return GuestCheck{Host: w.host, Regions: regions}.CheckGuestConfig(g, pre)
}

// has reports whether a finding of level mentions every fragment.
func has(r GuestReport, level string, frags ...string) bool {
	for _, f := range r.Findings {
		if f.Level != level {
			continue
		}
		all := true
		for _, fr := range frags {
			all = all && strings.Contains(f.Subject+" "+f.Message, fr)
		}
		if all {
			return true
		}
	}
	return false
}

func TestGuestConfigGoodHVM(t *testing.T) {
	w := newWorld(t, nil)
	r := checkCfg(t, w, "name = 'web01'\ntype = 'hvm'\nmemory = 1024\nvga = 'none'\npci = [ '<nic1>@6', '<old1>', '<old2>' ]\n", nil)
	if r.Fails() {
		t.Fatalf("a good config fails: %+v", r.Findings)
	}
	if !has(r, "ok", w.bdf["nic1"].String(), "assignable") || !has(r, "ok", "passthrough") {
		t.Errorf("findings %+v", r.Findings)
	}
}

func TestGuestConfigFindsEveryProblem(t *testing.T) {
	w := newWorld(t, map[string]string{"nic3": "e1000e"})
	text := "type = 'hvm'\nmemory = 512\nmaxmem = 1024\npci_msitranslate = 1\n" +
		"pci = [ '<nic1>@6', '<nic2>@6', '<nic3>', '<old1>', '01:00.0,permissive=yes', '0000:77:00.0' ]\n"
	r := checkCfg(t, w, text, nil)
	for _, c := range []struct {
		frags []string
	}{
		{[]string{"guest slot 6 is also requested"}},
		{[]string{w.bdf["nic3"].String(), "dom0 driver e1000e", "xlpt pci-assignable-add"}},
		{[]string{"same domain", w.bdf["old2"].String()}},
		{[]string{"permissive", "would silently read it as permissive=0"}},
		{[]string{"0000:77:00.0", "no such PCI device"}},
		{[]string{"populate-on-demand", "maxmem = memory"}},
	} {
		if !has(r, "fail", c.frags...) {
			t.Errorf("no failure mentioning %q in %+v", c.frags, r.Findings)
		}
	}
	if !has(r, "warn", "msitranslate=1 has no effect") {
		t.Errorf("no msitranslate warning: %+v", r.Findings)
	}
}

func TestGuestConfigPassthroughForHotplug(t *testing.T) {
	w := newWorld(t, nil)
	r := checkCfg(t, w, "type = 'hvm'\nmemory = 256\n", nil)
	if !has(r, "warn", "pci-attach will fail later", `passthrough="enabled"`) {
		t.Errorf("%+v", r.Findings)
	}
	r = checkCfg(t, w, "type = 'hvm'\nmemory = 256\npassthrough = 'enabled'\n", nil)
	if has(r, "warn", "pci-attach will fail later") {
		t.Errorf("warned despite passthrough=enabled: %+v", r.Findings)
	}
}

// The testbed's case: an RMRR at 0xf0000 (pages f0-ff) on a device; under
// strict it refuses the guest, under relaxed it starts with a warning. xl
// 4.17 drops rdm="strategy=host,policy=relaxed", so only the per-device
// policy decides.
func TestGuestConfigRdm(t *testing.T) {
	w := newWorld(t, nil)
	regions := []rdm.Region{{StartPFN: 0xf0, NrPages: 0x10, Devices: []xl.PciBdf{w.bdf["nic1"]}}}
	strict := checkCfg(t, w, "type = 'hvm'\nmemory = 256\nvga='none'\nrdm = 'strategy=host,policy=strict'\npci = [ '<nic1>' ]\n", regions)
	if !strict.Fails() || !has(strict, "fail", "rdm", "RDM conflict at 0xf0000") {
		t.Errorf("strict: %+v", strict.Findings)
	}
	if !has(strict, "warn", "rdm") { // xl drops the setting: say so
		t.Errorf("no warning about xl dropping rdm=: %+v", strict.Findings)
	}
	relaxed := checkCfg(t, w, "type = 'hvm'\nmemory = 256\nvga='none'\nrdm = 'strategy=host,policy=relaxed'\npci = [ '<nic1>,rdm_policy=relaxed' ]\n", regions)
	if relaxed.Fails() {
		t.Errorf("relaxed fails: %+v", relaxed.Findings)
	}
	if !has(relaxed, "warn", "Ignoring RDM conflict at 0xf0000") || relaxed.Rdm == nil || len(relaxed.Rdm.Warnings) == 0 {
		t.Errorf("relaxed: no libxl warning predicted: %+v", relaxed.Rdm)
	}
}
