package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/report"
)

func TestMsiCommand(t *testing.T) {
	root := t.TempDir()
	tree, err := pcitest.Generate(root, pcitest.Topology{Root: []*pcitest.Node{
		{Kind: pcitest.Endpoint, MSI: true, MSIX: 8},
		{Kind: pcitest.Endpoint, MSIX: 64, TotalVFs: 2, NumVFs: 1, VFDevice: 0x1520},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var both, vf string
	for _, f := range tree.Funcs {
		switch {
		case f.IsVF:
			vf = f.BDF.String()
		case f.Node.MSI:
			both = f.BDF.String()
		}
	}
	if both == "" || vf == "" {
		t.Fatalf("tree: %+v", tree.Funcs)
	}
	out, errs, code := run(t, "--sysfs-root", root, "msi", "--pci-msitranslate", "1", both)
	if code != 0 || !strings.Contains(out, "MSI:   [") || !strings.Contains(out, "Count=8 ") ||
		!strings.Contains(out, "effective: false") || !strings.Contains(out, "no effect with device_model_version") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	out, _, code = run(t, "--sysfs-root", root, "msi", "--json", "--device-model", "qemu-xen-traditional", both+",msitranslate=1", vf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var doc struct {
		Schema  string
		Devices []struct {
			MSI  *struct{ Enabled bool }
			MSIX *struct {
				TableSize int `json:"table_size"`
			}
			VF          bool `json:"sriov_vf"`
			Translation struct {
				Requested, Effective bool
			} `json:"msitranslate"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Schema != report.Schema {
		t.Fatalf("%v\n%s", err, out)
	}
	r := doc.Devices
	if len(r) != 2 || r[0].MSI == nil || !r[0].Translation.Requested || !r[0].Translation.Effective ||
		r[1].MSI != nil || r[1].MSIX == nil || !r[1].VF || r[1].Translation.Requested {
		t.Errorf("json: %s", out)
	}
	if _, _, code := run(t, "--sysfs-root", root, "msi", "00:1f.7"); code != 1 {
		t.Errorf("missing device: exit %d", code)
	}
	if _, _, code := run(t, "--sysfs-root", root, "msi", "00:1f"); code != 2 {
		t.Errorf("malformed: exit %d", code)
	}
}
