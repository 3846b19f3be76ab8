package docschema

import "testing"

func TestCommandOfAndDef(t *testing.T) {
	for line, want := range map[string]string{
		"xlpt pci-list --json hvm1":                        "pci_list",
		"xlpt --log-level error --json cfg check /x.cfg":   "cfg_check",
		"XLPT=1 /usr/sbin/xlpt sriov enable --json 09.0 2": "sriov_set",
		"xlpt --sysfs-root /r migrate status --plan p":     "migrate",
		"xlpt pci-move --json a b 00:05.0":                 "migrate",
		"xl pci-list hvm1":                                 "",
	} {
		got := CommandOf(line)
		if got != "" {
			got = Def(got)
		}
		if got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := `{"schema":"xlpt/1","warnings":[],"notes":[],"cmdline":"xen-pciback.hide=(0000:03:00.0)","devices":["0000:03:00.0"]}`
	if err := Validate("hide_cmdline", []byte(ok)); err != nil {
		t.Error(err)
	}
	if err := Validate("", []byte(ok)); err != nil {
		t.Errorf("as any document: %v", err)
	}
	for _, bad := range []string{
		`{"schema":"xlpt/2","warnings":[],"notes":[],"cmdline":"x","devices":[]}`,
		`{"schema":"xlpt/1","warnings":[],"notes":[],"cmdline":"x","devices":["3:0.0"]}`,
		`{"schema":"xlpt/1","warnings":[],"cmdline":"x","devices":[]}`,
		`{"schema":"xlpt/1","warnings":[],"notes":[],"cmdline":"x","devices":[],"more":1}`,
	} {
		if Validate("hide_cmdline", []byte(bad)) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
