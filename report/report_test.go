package report

import (
	"bytes"
	"testing"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/docschema"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

func write(t *testing.T, doc Document, warnings, notes []string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, doc, warnings, notes); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Write opens the document with the envelope, lists empty rather than
// null, indents by two and ends with a newline.
func TestWriteFillsTheEnvelope(t *testing.T) {
	got := string(write(t, AssignableList(nil), nil, []string{"a note"}))
	want := `{
  "schema": "xlpt/1",
  "warnings": [],
  "notes": [
    "a note"
  ],
  "devices": []
}
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Every document built from an empty result is one the schema accepts:
// no list comes out null, no vocabulary word empty. (The golden files of
// cmd/xlpt cover the documents of full results.)
func TestEmptyResultsMatchTheSchema(t *testing.T) {
	var g rdm.Guest
	for def, doc := range map[string]Document{
		"pci_spec":              Specs(nil),
		"check":                 Check(hotplug.CheckReport{Devices: []hotplug.DeviceReport{}, Summary: hotplug.Summarize(nil)}),
		"hide_cmdline":          HideCmdline(hotplug.HideCmdlineResult{Devices: []xl.PciBdf{}}),
		"pci_attach":            Attach(hotplug.AttachResult{}),
		"pci_detach":            Detach(hotplug.DetachResult{}),
		"pci_list":              PciList(hotplug.Domain{Name: "web01"}, nil),
		"pci_assignable_add":    AssignableAdd(hotplug.AssignableResult{}),
		"pci_assignable_remove": AssignableRemove("nic1", true, hotplug.ReleaseResult{Message: "released"}),
		"pci_assignable_list":   AssignableList(nil),
		"rdm_list":              Regions(nil),
		"rdm_check":             Rdm(g, rdm.Result{}),
		"sriov_list":            SRIOVList(nil),
		"sriov_set":             SRIOVSet(hotplug.SRIOVResult{}, 0),
		"recover":               Recover(hotplug.RecoverReport{}),
		"restore":               Restore(hotplug.RestoreResult{}, 0),
		"msi":                   MSI(hotplug.MSIReport{}),
		"cfg_add_pci":           CfgAdded("/etc/xen/g.cfg", "03:00.0"),
		"cfg_remove_pci":        CfgRemoved("/etc/xen/g.cfg", []string{"03:00.0"}),
	} {
		b := write(t, doc, nil, nil)
		if err := docschema.Validate(def, b); err != nil {
			t.Errorf("%s: %v\n%s", def, err, b)
		}
	}
}

// A named device with no regions, and a spec xl misreads, keep their
// lists and say why.
func TestSpecsAndRegions(t *testing.T) {
	doc := Specs([]string{"03:00.1@5,permissive=1", "03:00.0,permissive=true"})
	if doc.OK() || doc.Specs[0].Outcome != "ok" || doc.Specs[1].Outcome != "malformed" || doc.Specs[1].Message == "" {
		t.Errorf("specs: %+v", doc.Specs)
	}
	r := Regions([]rdm.Region{{StartPFN: 0xf0, NrPages: 0x10, Sources: []rdm.Source{"rmrr="}}}).Regions[0]
	if r.End != 0xff*4096+4095 || len(r.Sources) != 1 || r.Sources[0] != "rmrr" || r.Devices == nil {
		t.Errorf("region: %+v", r)
	}
}
