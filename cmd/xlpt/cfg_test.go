package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind/pcitest"
)

func TestCfgCheckAddRemove(t *testing.T) {
	tree, err := pcitest.Generate(t.TempDir(), pcitest.Topology{Drivers: []string{"pciback", "e1000e"}, Root: []*pcitest.Node{
		{Kind: pcitest.HostBridgeNode},
		{Kind: pcitest.Endpoint, FLR: true, MSI: true, Vendor: 0x8086, Device: 0x10d3, Driver: "pciback"},
		{Kind: pcitest.Endpoint, FLR: true, MSI: true, Vendor: 0x8086, Device: 0x10d3, Driver: "e1000e"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var hidden, held string
	for _, f := range tree.Funcs {
		switch f.Driver {
		case "pciback":
			hidden = f.BDF.String()
		case "e1000e":
			held = f.BDF.String()
		}
	}
	cfg := filepath.Join(t.TempDir(), "g.cfg")
	os.WriteFile(cfg, []byte("# guest\nname = 'g'\ntype = 'hvm'\nmemory = 256\nvga = 'none'\npci = [ '"+hidden+"@6' ] # one NIC\n"), 0o644)
	root := []string{"--sysfs-root", tree.Root}
	check := func() (string, int) {
		out, _, code := run(t, append(root, "cfg", "check", "--no-xen", "--no-dmar", cfg)...)
		return out, code
	}
	if out, code := check(); code != 0 || !strings.Contains(out, "verdict: ready") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	if _, errs, code := run(t, append(root, "cfg", "add-pci", cfg, held+",permissive=true")...); code != 2 || !strings.Contains(errs, "permissive=0") {
		t.Errorf("misread spec added: exit %d %q", code, errs)
	}
	// add-pci checks the guest afterwards, as its help promises: the
	// device dom0 still holds is named, with the fix.
	out, errs, code := run(t, append(root, "cfg", "add-pci", "--no-xen", "--no-dmar", cfg, held)...)
	if code != 0 || !strings.Contains(out, "added") || !strings.Contains(out, "xlpt pci-assignable-add "+held) ||
		!strings.Contains(out, "verdict:") || !strings.Contains(errs, "warning: the guest would fail to start") {
		t.Fatalf("add-pci: exit %d\n%s%s", code, out, errs)
	}
	out, code = check()
	if code != 1 || !strings.Contains(out, "dom0 driver e1000e") || !strings.Contains(out, "xlpt pci-assignable-add "+held) {
		t.Errorf("check after adding a held device: exit %d\n%s", code, out)
	}
	if _, errs, code := run(t, append(root, "cfg", "add-pci", cfg, held)...); code != 1 || !strings.Contains(errs, "already in pci") {
		t.Errorf("duplicate add: exit %d %q", code, errs)
	}
	if _, _, code := run(t, append(root, "cfg", "remove-pci", cfg, held)...); code != 0 {
		t.Fatalf("remove-pci exit %d", code)
	}
	b, _ := os.ReadFile(cfg)
	if !strings.HasPrefix(string(b), "# guest\nname = 'g'\n") || !strings.HasSuffix(string(b), " # one NIC\n") || strings.Contains(string(b), held) {
		t.Errorf("file after add+remove:\n%s", b)
	}
	if _, errs, code := run(t, append(root, "cfg", "remove-pci", cfg, held)...); code != 1 || !strings.Contains(errs, "not in pci") {
		t.Errorf("removing an absent device: exit %d %q", code, errs)
	}
	os.WriteFile(cfg, []byte("Name = 'g'\n"), 0o644)
	if _, errs, code := run(t, append(root, "cfg", "check", cfg)...); code != 2 || !strings.Contains(errs, "line 1") {
		t.Errorf("unparsable file: exit %d %q", code, errs)
	}
}

func TestRdmCheckFromConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "r.cfg")
	base := "type = 'hvm'\nmemory = 256\nvga = 'none'\n"
	rm := []string{"rdm", "check", "--no-xen", "--no-dmar", "--rmrr", "0xf0-0xff=0000:00:03.0", "--guest-cfg", cfg}
	os.WriteFile(cfg, []byte(base+"pci = [ '00:03.0' ]\n"), 0o644)
	if out, _, code := run(t, rm...); code != 1 || !strings.Contains(out, "RDM conflict at 0xf0000.") {
		t.Errorf("strict: exit %d\n%s", code, out)
	}
	os.WriteFile(cfg, []byte(base+"pci = [ '00:03.0,rdm_policy=relaxed' ]\n"), 0o644)
	if out, _, code := run(t, rm...); code != 0 || !strings.Contains(out, "Ignoring RDM conflict at 0xf0000.") {
		t.Errorf("relaxed: exit %d\n%s", code, out)
	}
	os.WriteFile(cfg, []byte("type = 'pv'\nmemory = 256\n"), 0o644)
	if _, errs, code := run(t, rm...); code != 2 || !strings.Contains(errs, "HVM") {
		t.Errorf("pv: exit %d %q", code, errs)
	}
}
