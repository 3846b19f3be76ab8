package msi

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	yes, no := true, false
	withMSI := Caps{MSI: &MSI{Capable: 1, Allocated: 1}}
	msixOnly := Caps{MSIX: &MSIX{TableSize: 4}}
	none := Caps{}
	cases := []struct {
		name      string
		in        TranslateInput
		requested bool
		from      string
		effective bool
		reason    string
		warnings  int
		problems  int
	}{
		{"default: off, qemu-xen", TranslateInput{HVM: true, Caps: withMSI}, false, "global", false, "does not pass it to QEMU", 0, 0},
		{"global on, qemu-xen: recorded, no effect", TranslateInput{Global: true, HVM: true, Caps: withMSI}, true, "global", false, "does not pass it", 1, 0},
		{"per-device on overrides global off, qemu-xen", TranslateInput{Device: &yes, HVM: true, DeviceModel: QemuXen, Caps: withMSI}, true, "entry", false, "qemu-xen", 1, 0},
		{"per-device off overrides global on, traditional", TranslateInput{Global: true, Device: &no, HVM: true, DeviceModel: QemuXenTraditional, Caps: withMSI}, false, "entry", false, "msitranslate=0", 0, 0},
		{"traditional honours it", TranslateInput{Global: true, HVM: true, DeviceModel: QemuXenTraditional, Caps: withMSI}, true, "global", true, "enables MSI", 0, 0},
		{"traditional, device without MSI", TranslateInput{Device: &yes, HVM: true, DeviceModel: QemuXenTraditional, Caps: none}, true, "entry", false, "no MSI capability", 1, 0},
		{"traditional, MSI-X only", TranslateInput{Device: &yes, HVM: true, DeviceModel: QemuXenTraditional, Caps: msixOnly}, true, "entry", false, "MSI-X only", 1, 0},
		{"PV guest", TranslateInput{Global: true, HVM: false, Caps: withMSI}, true, "global", false, "pcifront", 1, 0},
		{"VF without MSI or MSI-X", TranslateInput{HVM: true, Caps: none, IsVF: true}, false, "global", false, "", 0, 1},
		{"VF with MSI-X only is fine", TranslateInput{HVM: true, Caps: msixOnly, IsVF: true}, false, "global", false, "", 0, 0},
		{"unknown device model", TranslateInput{HVM: true, DeviceModel: "qemu-dm", Caps: withMSI}, false, "global", false, "unknown device model", 1, 0},
	}
	for _, c := range cases {
		tr := Resolve(c.in)
		if tr.Requested != c.requested || tr.Effective != c.effective || tr.From != c.from ||
			!strings.Contains(tr.Reason, c.reason) || len(tr.Warnings) != c.warnings || len(tr.Problems) != c.problems {
			t.Errorf("%s: %+v", c.name, tr)
		}
		if tr.Reason == "" {
			t.Errorf("%s: no reason", c.name)
		}
	}
}
