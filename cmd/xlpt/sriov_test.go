package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// On a synthetic host (no hypervisor: sysfs only): sriov list as text and
// JSON, restore's plan and refusals with their exit status, the persisted
// hide line, and the usage errors.
func TestSRIOVAndRestoreCommands(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	var pf, vf, nic string
	for _, f := range tr.Funcs {
		switch {
		case f.Node.TotalVFs > 0 && !f.IsVF:
			pf = f.BDF.String()
		case f.IsVF && f.Index == 1:
			vf = f.BDF.String()
		case f.Driver == "e1000e":
			nic = f.BDF.String()
		}
	}
	cfg := t.TempDir()
	t.Setenv("XLPT_CONFIG_DIR", cfg)
	t.Setenv("XLPT_SYSFS_ROOT", tr.Root)

	out, _, code := run(t, "sriov", "list")
	if code != 0 || !strings.Contains(out, "PF "+pf+" 8086:1521 igb: 4 of 8 VFs enabled") || !strings.Contains(out, "VF 1   "+vf+"  igbvf") {
		t.Errorf("sriov list: exit %d\n%s", code, out)
	}
	out, _, _ = run(t, "sriov", "list", "--json")
	var doc struct {
		Schema string `json:"schema"`
		PFs    []struct {
			VFs []struct{ Owner, BDF string }
		} `json:"pfs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Schema != "xlpt/1" || len(doc.PFs) != 1 || doc.PFs[0].VFs[1].BDF != vf || doc.PFs[0].VFs[1].Owner != "dom0_driver" {
		t.Errorf("sriov list --json: %v\n%s", err, out)
	}

	out, _, code = run(t, "restore")
	if code != 0 || !strings.Contains(out, "nothing to restore") {
		t.Errorf("restore without a file: exit %d %q", code, out)
	}
	conf := "sriov " + pf + " 8086:1521 vfs=2\nassignable " + vf + " 8086:1520 vf=" + pf + "/1\nassignable " + nic + " 8086:10d3\n" +
		"assignable 0000:77:00.0 8086:10d3\n"
	if err := os.WriteFile(filepath.Join(cfg, "devices.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = run(t, "restore", "--dry-run")
	for _, want := range []string{"would_apply sriov       " + pf, "sriov_numvfs 4 -> 2 (through 0)",
		"would_apply assignable  " + vf, "would_apply assignable  " + nic, "refused     assignable  0000:77:00.0", "no device at 0000:77:00.0",
		"3 would apply, 0 already so, 1 refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore --dry-run lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("restore --dry-run with a refusal: exit %d, want 1", code)
	}
	out, _, code = run(t, "restore", "--dry-run", "--json")
	var rdoc struct {
		Schema string `json:"schema"`
		Items  []struct{ Outcome, Kind string }
	}
	if err := json.Unmarshal([]byte(out), &rdoc); err != nil || rdoc.Schema != "xlpt/1" || len(rdoc.Items) != 4 || rdoc.Items[0].Kind != "sriov" || code != 1 {
		t.Errorf("restore --json: %v %d\n%s", err, code, out)
	}
	_, errs, code := run(t, "hide-cmdline", "--persisted")
	if code != 1 || !strings.Contains(errs, `"0000:77:00.0": no such device`) {
		t.Errorf("hide-cmdline --persisted with a missing device: exit %d %q", code, errs)
	}
	os.WriteFile(filepath.Join(cfg, "devices.conf"), []byte(strings.Replace(conf, "assignable 0000:77:00.0 8086:10d3\n", "", 1)), 0o644)
	out, errs, code = run(t, "hide-cmdline", "--persisted")
	if code != 0 || strings.TrimSpace(out) != "xen-pciback.hide=("+nic+")" {
		t.Errorf("hide-cmdline --persisted: exit %d %q %q", code, out, errs)
	}
	if !strings.Contains(errs, "VF 1 of "+pf) {
		t.Errorf("hide-cmdline --persisted says nothing of the VF: %q", errs)
	}

	os.WriteFile(filepath.Join(cfg, "devices.conf"), []byte("assignable "+nic+" 8086\n"), 0o644)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"sriov", "enable", pf, "0"}, "xlpt sriov disable"},
		{[]string{"sriov", "enable", pf}, "missing arguments"},
		{[]string{"sriov", "enable", "--driver", "vfio", pf, "2"}, "--driver"},
		{[]string{"sriov", "disable", "03:00.*"}, "one function"},
		{[]string{"hide-cmdline", "--persisted", nic}, "--persisted takes no BDF"},
		{[]string{"pci-assignable-add", "--persist", nic}, "devices.conf:1"},
	} {
		if _, errs, code := run(t, c.args...); code != 2 || !strings.Contains(errs, c.msg) {
			t.Errorf("xlpt %v: exit %d %q, want 2 mentioning %q", c.args, code, errs, c.msg)
		}
	}
	// restore skips the bad line with a warning naming it (issue 25):
	// one bad line must not keep the rest of the host from its setup.
	if _, errs, code := run(t, "restore"); code != 1 || !strings.Contains(errs, "warning: skipped") || !strings.Contains(errs, "devices.conf:1: identity") {
		t.Errorf("xlpt restore: exit %d %q, want 1 and a warning naming devices.conf:1", code, errs)
	}
}

// restore on the simulated kernel (a recorded host: sysfs binding, no
// libxl): everything applied, then everything already so.
func TestRestoreAppliesThenAlready(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	var pf, nic string
	for _, f := range tr.Funcs {
		switch {
		case f.Node.TotalVFs > 0 && !f.IsVF:
			pf = f.BDF.String()
		case f.Driver == "e1000e":
			nic = f.BDF.String()
		}
	}
	k := pcitest.NewKernel(t, tr.Root)
	proc := t.TempDir()
	for name, body := range map[string]string{"mounts": "", "swaps": "Filename\n", "net/route": "Iface\n", "net/ipv6_route": ""} {
		os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755)
		os.WriteFile(filepath.Join(proc, name), []byte(body), 0o644)
	}
	cfg := t.TempDir()
	conf := "sriov " + pf + " 8086:1521 vfs=2 autoprobe=0\nassignable 0000:0a:10.1 8086:1520 vf=" + pf + "/1\n" +
		"assignable " + nic + " 8086:10d3 driver=pci-stub original=e1000e\n"
	if err := os.WriteFile(filepath.Join(cfg, "devices.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runK := func(args ...string) (string, string, int) {
		app := newApp()
		var out, errw bytes.Buffer
		app.Writer, app.ErrWriter = &out, &errw
		app.Metadata = map[string]any{"sysfs-writer": k}
		err := app.Run(append([]string{"xlpt", "--sysfs-root", tr.Root, "--proc-root", proc, "--config-dir", cfg}, args...))
		if err != nil {
			errw.WriteString(err.Error())
			return out.String(), errw.String(), exitCode(err)
		}
		return out.String(), errw.String(), 0
	}
	out, errs, code := runK("restore")
	t.Logf("first restore (exit %d):\n%s%s", code, out, errs)
	if code != 0 || !strings.Contains(out, "3 applied, 0 already so, 0 refused, 0 failed") {
		t.Fatalf("first restore: exit %d\n%s%s", code, out, errs)
	}
	if d := k.Driver(xl.PciBdf{Bus: 0x0a, Dev: 0x10, Func: 1}); d != "pciback" {
		t.Errorf("VF 1 on %q after restore", d)
	}
	out, errs, code = runK("restore")
	t.Logf("second restore (exit %d):\n%s%s", code, out, errs)
	if code != 0 || !strings.Contains(out, "0 applied, 3 already so, 0 refused, 0 failed") {
		t.Errorf("second restore: exit %d\n%s%s", code, out, errs)
	}
	// pci-assignable-add of the other VF, autoprobe still 0: no bind
	// reaches it unless the command sets driver_override first.
	vf0 := xl.PciBdf{Bus: 0x0a, Dev: 0x10, Func: 0}
	out, errs, code = runK("pci-assignable-add", vf0.String())
	if d := k.Driver(vf0); code != 0 || d != "pciback" {
		t.Errorf("pci-assignable-add of an autoprobe=0 VF: exit %d, driver %q\n%s%s", code, d, out, errs)
	}
}
