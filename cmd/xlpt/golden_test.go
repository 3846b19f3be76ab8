package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/internal/docschema"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/report"
	"github.com/xlpt/xlpt/xl"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// The --json output of every command is kept in testdata/golden, so a
// change to the schema shows as a diff there (go test -run Golden -update
// rewrites them; review the diff). Each runs on the simulated sample host
// with its own /proc and pci.ids; paths are replaced by $ROOT and $TMP.
func TestGoldenJSON(t *testing.T) {
	tr, bdf := sampleHost(t)
	kernel := pcitest.NewKernel(t, tr.Root)
	os.MkdirAll(filepath.Join(tr.Root, "proc/net"), 0o755)
	os.WriteFile(filepath.Join(tr.Root, "proc/mounts"), []byte("/dev/nvme0n1p1 / ext4 rw 0 0\n"), 0o644)
	os.WriteFile(filepath.Join(tr.Root, "proc/net/route"), []byte("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"), 0o644)
	tmp := t.TempDir()
	ids, _ := filepath.Abs("testdata/pci.ids")
	global := []string{"--sysfs-root", tr.Root, "--pci-ids", ids}
	cfg := filepath.Join(tmp, "g.cfg")
	os.WriteFile(cfg, []byte("name = 'g'\ntype = 'hvm'\nmemory = 256\nvga = 'none'\npci = [ '"+bdf("ixgbe")+"@6' ]\n"), 0o644)
	rmrr := "0xf0-0xff=" + bdf("xhci_hcd")

	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"pci-spec", []string{"pci-spec", "--json", "03:00.1@0x5,permissive=1", "name=gpu,rdm_policy=relaxed", "01:00.0@0"}, 2},
		{"check", []string{"check", "--json", "--no-libxl", bdf("ixgbe"), bdf("nvme"), bdf("e1000"), "00:00.0", "00:01.0", "07:00.0", "7f:00.0"}, 1},
		{"hide-cmdline", []string{"hide-cmdline", "--json", bdf("e1000")}, 0},
		{"msi", []string{"msi", "--json", bdf("ixgbe"), bdf("nouveau")}, 0},
		{"pci-assignable-add", []string{"pci-assignable-add", "--json", "--driver", "pci-stub", bdf("ixgbe")}, 0},
		{"pci-assignable-remove", []string{"pci-assignable-remove", "--json", bdf("ixgbe")}, 0},
		{"rdm-list", []string{"rdm", "list", "--json", "--no-xen", "--rmrr", rmrr}, 0},
		{"rdm-check", []string{"rdm", "check", "--json", "--no-xen", "--no-dmar", "--rmrr", rmrr, "--memory", "1024", "--pci", bdf("xhci_hcd") + ",rdm_policy=relaxed"}, 0},
		{"cfg-check", []string{"cfg", "check", "--json", "--no-xen", "--no-dmar", cfg}, 1},
		{"cfg-add-pci", []string{"cfg", "add-pci", "--json", "--no-xen", "--no-dmar", cfg, bdf("e1000e") + "@7"}, 0},
		{"cfg-remove-pci", []string{"cfg", "remove-pci", "--json", "--no-xen", "--no-dmar", cfg, bdf("e1000e")}, 0},
		{"sriov-list", []string{"sriov", "list", "--json"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			app := newApp()
			var out, errw bytes.Buffer
			app.Writer, app.ErrWriter = &out, &errw
			app.Metadata = map[string]any{"sysfs-writer": kernel}
			err := app.Run(getoptArgs(app, append(append([]string{"xlpt"}, global...), c.args...)))
			if code := exitCode(err); err != nil && code != c.code || err == nil && c.code != 0 {
				t.Fatalf("exit %d (%v), want %d; stderr %s\n%s", code, err, c.code, errw.String(), out.String())
			}
			got := strings.NewReplacer(tr.Root, "$ROOT", tmp, "$TMP").Replace(out.String())
			checkSchema(t, c.name, []byte(got))
			golden(t, c.name, got)
		})
	}
}

// TestGoldenJSONLibxl covers the documents of the commands that need
// libxl, rendered from results as hotplug returns them.
func TestGoldenJSONLibxl(t *testing.T) {
	nic := xl.NewDevicePci()
	nic.PciBdf, nic.VfuncMask, nic.Vdevfn = xl.PciBdf{Bus: 3}, 1, xl.Vdevfn(7, 0)
	named := nic
	named.Name = "nic1"
	dom := hotplug.Domain{Name: "web01", Domid: 3}
	for name, doc := range map[string]report.Document{
		"pci-attach":            report.Attach(hotplug.AttachResult{Domain: dom, Attached: []xl.DevicePci{nic}}),
		"pci-detach":            report.Detach(hotplug.DetachResult{Domain: dom, Detached: []xl.DevicePci{nic}}),
		"pci-list":              report.PciList(dom, []xl.DevicePci{nic}),
		"pci-assignable-list":   report.AssignableList([]xl.DevicePci{named}),
		"migrate":               report.Plan(samplePlan()),
		"migrate-check":         report.MigrateCheck(sampleCheck(false), "/var/lib/xlpt/web01.plan"),
		"migrate-check-refused": report.MigrateCheck(sampleCheck(true), "/var/lib/xlpt/web01.plan"),
		"sriov-set": report.SRIOVSet(hotplug.SRIOVResult{Change: pcibind.NumVFsChange{PF: xl.PciBdf{Bus: 3}, From: 0, To: 2,
			Waited: 180 * time.Millisecond, VFs: []xl.PciBdf{{Bus: 3, Dev: 0x10}, {Bus: 3, Dev: 0x10, Func: 2}}}, Changed: true,
			Hidden: []hotplug.Hidden{{BDF: xl.PciBdf{Bus: 3, Dev: 0x10}, To: "pciback"}, {BDF: xl.PciBdf{Bus: 3, Dev: 0x10, Func: 2}, To: "pciback"}}, AutoprobeOff: true,
			Persisted: "/etc/xlpt/devices.conf"}, 250*time.Millisecond),
		// sriov disable, without --persist: nothing hidden, no VFs left.
		"sriov-disable": report.SRIOVSet(hotplug.SRIOVResult{Change: pcibind.NumVFsChange{PF: xl.PciBdf{Bus: 3}, From: 2, To: 0}, Changed: true}, 653*time.Nanosecond),
		"restore": report.Restore(hotplug.RestoreResult{File: "/etc/xlpt/devices.conf", Items: []hotplug.RestoreItem{
			{Entry: "sriov 0000:03:00.0 vfs=2 assignable", Kind: "sriov", BDF: xl.PciBdf{Bus: 3}, Outcome: hotplug.RestoreApplied, Detail: "2 VFs on pciback"}}}, 500*time.Millisecond),
		"restore-dry-run": report.Restore(hotplug.RestoreResult{File: "/etc/xlpt/devices.conf", DryRun: true, Items: []hotplug.RestoreItem{
			{Entry: "assignable 0000:03:00.0 8086:10d3 driver=pciback", Kind: "assignable", BDF: xl.PciBdf{Bus: 3}, Outcome: hotplug.RestoreWouldApply, Detail: "e1000e -> pciback"}}}, 653*time.Nanosecond),
		"recover": report.Recover(hotplug.RecoverReport{Records: []string{"attach 0000:03:00.0 to web01 (pid 4242)"}, Repairs: []hotplug.Repair{
			{Device: nic.PciBdf, Record: "attach 0000:03:00.0 to web01", Problem: "listed by libxl in web01 but not in its QEMU", Action: "removed from web01's libxl list; assignable again"},
			{Device: xl.PciBdf{Bus: 4}, Problem: "on pciback, in no domain", Action: "none: consistent"},
		}}),
	} {
		t.Run(name, func(t *testing.T) {
			app := newApp()
			var out bytes.Buffer
			app.Writer = &out
			app.Commands = append(app.Commands, &cli.Command{Name: "probe", Action: func(c *cli.Context) error {
				o := newOutput(c)
				if name == "pci-attach" {
					o.warn("0000:03:00.0: example warning")
				} else if name == "pci-detach" {
					o.note("0000:03:00.0 stays on pciback: xlpt pci-assignable-remove -r 0000:03:00.0 gives it back to dom0")
				}
				return o.emit(doc, func(w io.Writer) {})
			}})
			if err := app.Run([]string{"xlpt", "--json", "probe"}); err != nil {
				t.Fatal(err)
			}
			checkSchema(t, name, out.Bytes())
			golden(t, name, out.String())
		})
	}
}

var snake = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// goldenDefs names the schema definition of golden files that show
// another command's document (or a second case of one).
var goldenDefs = map[string]string{"sriov-disable": "sriov_set", "restore-dry-run": "restore", "migrate-check-refused": "migrate_check"}

// goldenDef is the schema definition a golden file is validated against.
func goldenDef(name string) string {
	if d, ok := goldenDefs[name]; ok {
		return d
	}
	return docschema.Def(name)
}

// checkSchema: one object, valid against docs/schema/xlpt-1.json's
// definition of its command's document, with the schema marker and
// snake_case keys only.
func checkSchema(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := docschema.Validate(goldenDef(name), b); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, b)
	}
	if doc["schema"] != report.Schema {
		t.Errorf("schema %v, want %s", doc["schema"], report.Schema)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q at %s is not snake_case", k, path)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", doc)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata/golden", name+".json")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -run Golden -update, then review the diff):\n%s", name, p, got)
	}
}

// samplePlan is a plan as xlpt migrate attach leaves it.
func samplePlan() *hotplug.Plan {
	vf := 1
	return &hotplug.Plan{Version: hotplug.PlanVersion, Kind: "migrate", Domain: "web01", SourceHost: "src", Phase: hotplug.PhaseAttached,
		GuestType: "hvm", Passthrough: "enabled",
		Devices: []hotplug.PlanDevice{{
			BDF: "0000:03:10.1", Vdevfn: 0x38, GuestSlot: "07.0", FuncMask: 1,
			Options:    hotplug.PlanOptions{Msitranslate: true, RdmPolicy: "relaxed"},
			Assignable: hotplug.PlanAssignable{Driver: "pciback", OriginalDriver: "ixgbevf"},
			Identity: hotplug.Identity{Vendor: 0x8086, Device: 0x1515, SubVendor: 0x8086, SubDevice: 0x0003, Class: 0x020000,
				PF: &hotplug.Identity{Vendor: 0x8086, Device: 0x1528, SubVendor: 0x8086, SubDevice: 0x0003, Class: 0x020000, Revision: 1,
					DSN: "00-1b-21-ff-ff-4a-5b-6c"}, VFIndex: &vf},
			State: hotplug.StateInTarget, TargetBDF: "0000:04:10.1", TargetSlot: "07.0",
		}},
		Events: []hotplug.PlanEvent{{Time: time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC), Step: "attach", Device: "0000:03:10.1",
			Detail: "in web01 at 0000:04:10.1, guest slot 07.0 (target)"}},
	}
}

// sampleCheck is migrate check on a target ("dst") of a preview plan of
// two NICs: matched by identity and at the same BDF, or (refused) the
// second ambiguous between two NICs, and no hvm_directio.
func sampleCheck(refused bool) hotplug.MigrateCheck {
	id := hotplug.Identity{Vendor: 0x8086, Device: 0x10d3, SubVendor: 0x8086, SubDevice: 0x0000, Class: 0x020000}
	p := &hotplug.Plan{Version: hotplug.PlanVersion, Kind: "migrate", Domain: "web01", SourceHost: "src", GuestType: "hvm",
		Passthrough: "enabled", Phase: hotplug.PhasePreview}
	for _, d := range []struct{ bdf, slot string }{{"0000:00:06.0", "07.0"}, {"0000:00:05.0", "06.0"}} {
		p.Devices = append(p.Devices, hotplug.PlanDevice{BDF: d.bdf, GuestSlot: d.slot, Identity: id, State: hotplug.StateInSource})
	}
	assignable := hotplug.Owner{Kind: hotplug.OwnedByPciback}
	res := hotplug.MigrateCheck{Plan: p, Host: "dst", GuestType: "hvm", Targets: []hotplug.CheckTarget{
		{BDF: "0000:00:06.0", GuestSlot: "07.0", Target: "0000:00:06.0", How: hotplug.MatchSameBDF, Owner: assignable},
		{BDF: "0000:00:05.0", GuestSlot: "06.0", Target: "0000:00:15.0", How: hotplug.MatchIdentity, Owner: assignable},
	}}
	if !refused {
		return res
	}
	res.Targets[1] = hotplug.CheckTarget{BDF: "0000:00:05.0", GuestSlot: "06.0"}
	amb := &hotplug.AmbiguousError{Device: "0000:00:05.0", Identity: id, Candidates: []xl.PciBdf{{Dev: 0x15}, {Dev: 0x16}}}
	res.Problems = []*hotplug.DeviceProblem{
		{Kind: hotplug.ProblemHost, Err: fmt.Errorf("%w: this host's Xen reports no hvm_directio, so it cannot pass devices through to the HVM guest web01", hotplug.ErrNoIOMMU)},
		{Device: "0000:00:05.0", Kind: hotplug.ProblemAmbiguous, Err: amb},
	}
	return res
}

// sameDoc names commands whose --json document is another's golden: the
// migration commands and pci-move print the plan, sriov enable and
// disable one result.
var sameDoc = map[string]string{"migrate-detach": "migrate", "migrate-attach": "migrate", "migrate-rollback": "migrate",
	"migrate-status": "migrate", "pci-move": "migrate", "sriov-enable": "sriov-set"}

// Every command that produces a result has --json and a golden file: a
// new command without them fails here.
func TestEveryCommandHasGoldenJSON(t *testing.T) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			if len(c.Subcommands) > 0 {
				walk(prefix+c.Name+"-", c.Subcommands)
				continue
			}
			name := prefix + c.Name
			if _, ok := sameDoc[name]; ok {
				name = sameDoc[name]
			}
			if _, err := os.Stat(filepath.Join("testdata/golden", name+".json")); err != nil {
				t.Errorf("%s: no golden JSON (%v)", name, err)
			}
			has := false
			for _, f := range c.Flags {
				has = has || f.Names()[0] == "json"
			}
			if !has {
				t.Errorf("%s: no --json", name)
			}
		}
	}
	walk("", newApp().Commands)
}

// Every golden file is a document of the schema, and every definition of
// the schema's documents has a golden file.
func TestGoldenFilesMatchTheSchema(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("%d golden files (%v)", len(files), err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkSchema(t, name, b)
		if err := docschema.Validate("", b); err != nil {
			t.Errorf("%s is no document of the schema: %v", name, err)
		}
		covered[goldenDef(name)] = true
	}
	raw, err := os.ReadFile("../../" + docschema.Path)
	if err != nil {
		t.Fatal(err)
	}
	var sch struct {
		AnyOf []struct {
			Ref string `json:"$ref"`
		} `json:"anyOf"`
	}
	if err := json.Unmarshal(raw, &sch); err != nil {
		t.Fatal(err)
	}
	for _, r := range sch.AnyOf {
		if def := strings.TrimPrefix(r.Ref, "#/$defs/"); !covered[def] {
			t.Errorf("the schema's %s has no golden file", def)
		}
	}
}

// The schema can fail: what issue 22 found wrong is refused.
func TestSchemaRefusesTheOldVocabulary(t *testing.T) {
	for name, mutate := range map[string]func(string) string{
		"check": func(s string) string {
			return strings.Replace(s, `"owner": "dom0_driver"`, `"owner": "dom0 driver ixgbe"`, 1)
		},
		"check ": func(s string) string {
			return strings.Replace(s, `"port_type": "root_port"`, `"port_type": "root-port"`, 1)
		},
		"sriov-list": func(s string) string { return strings.Replace(s, `"dom0_driver"`, `"dom0-driver"`, 1) },
		"restore":    func(s string) string { return strings.Replace(s, `"elapsed_ns": 500000000`, `"seconds": 0.5`, 1) },
		"msi": func(s string) string {
			return strings.Replace(s, `"from": "global"`, `"from": "pci_msitranslate (global, default 0)"`, 1)
		},
		"sriov-disable": func(s string) string {
			return strings.Replace(s, `"vfs": []`, `"vfs": null`, 1)
		},
		"pci-attach": func(s string) string {
			return strings.Replace(s, `"resumed": false`, `"resumed": false, "extra": 1`, 1)
		},
	} {
		name = strings.TrimSpace(name)
		b, err := os.ReadFile(filepath.Join("testdata/golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		bad := mutate(string(b))
		if bad == string(b) {
			t.Errorf("%s: the mutation found nothing to change", name)
			continue
		}
		if err := docschema.Validate(goldenDef(name), []byte(bad)); err == nil {
			t.Errorf("%s: the schema accepts the old form", name)
		}
	}
}
