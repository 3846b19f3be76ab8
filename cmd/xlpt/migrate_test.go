package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/hotplug"
)

func TestMigrateStatusSaysWhereEveryDeviceIs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p")
	p := &hotplug.Plan{Version: hotplug.PlanVersion, Kind: "migrate", Domain: "hvm1", Phase: hotplug.PhaseAttaching,
		Devices: []hotplug.PlanDevice{
			{BDF: "0000:00:0a.1", Vdevfn: 0x39, GuestSlot: "07.1", State: hotplug.StateInTarget, TargetBDF: "0000:00:0b.1", TargetSlot: "07.1"},
			{BDF: "0000:00:05.0", Vdevfn: 0x30, GuestSlot: "06.0", State: hotplug.StateDetached},
		}}
	if err := (hotplug.FilePlan{Path: path}).Save(p); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, "migrate", "status", "--plan", path)
	want := "hvm1 attaching: 0000:00:0a.1->0000:00:0b.1 in_target@07.1, 0000:00:05.0 detached@06.0\n"
	if code != 0 || out != want {
		t.Errorf("status: exit %d %q %q; want %q", code, out, errs, want)
	}
	// No plan, or not a plan: exit 1, naming the file.
	_, errs, code = run(t, "migrate", "status", "--plan", path+".none")
	if code != 1 || !strings.Contains(errs, "no plan at "+path+".none") {
		t.Errorf("missing plan: exit %d %q", code, errs)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	_, errs, code = run(t, "migrate", "status", "--plan", path)
	if code != 1 || !strings.Contains(errs, path+" is not a plan") {
		t.Errorf("bad plan: exit %d %q", code, errs)
	}
}

func TestMigrateBadInputExits2BeforeLibxl(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "attach", "--plan", "/nonexistent/p", "--map", "0000:00:05.0", "hvm1"},
		{"migrate", "attach", "--plan", "/nonexistent/p", "--map", "0000:00:05.*=0000:00:06.0", "hvm1"},
		{"migrate", "detach", "--plan", "/nonexistent/p", "--timeout", "-1", "hvm1"},
		{"migrate", "detach", "hvm1"}, // no --plan
		{"migrate", "rollback", "--plan", "/nonexistent/p"},
		{"migrate", "detach", "--dry-run", "hvm1"}, // no --plan
		{"migrate", "detach", "--dry-run", "--plan", "/nonexistent/p"},
		{"migrate", "check", "hvm1"}, // no --plan
		{"migrate", "check", "--plan", "/nonexistent/p", "hvm1", "hvm2"},
		{"migrate", "check", "--plan", "/nonexistent/p", "--map", "0000:00:05.0"},
		{"pci-move", "hvm1", "hvm2"},
		{"pci-move", "hvm1", "hvm2", "name=gpu"},
		{"pci-move", "hvm1", "hvm2", "0000:00:05.0", "20"},
	} {
		if _, errs, code := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d %q; want 2", args, code, errs)
		}
	}
}

// migrate check's text: one line per plan device, SRC -> DST (how) or
// SRC -> none, then the verdict.
func TestMigrateCheckText(t *testing.T) {
	for refused, want := range map[bool]string{
		false: "0000:00:06.0 -> 0000:00:06.0 (same BDF)\n0000:00:05.0 -> 0000:00:15.0 (identity)\n" +
			"plan /p: web01 (hvm) can be attached on dst: 2 device(s)\n",
		true: "0000:00:06.0 -> 0000:00:06.0 (same BDF)\n0000:00:05.0 -> none\n" +
			"plan /p: web01 (hvm) cannot be attached on dst: 2 problem(s)\n",
	} {
		var b bytes.Buffer
		printCheckTargets(&b, "/p", sampleCheck(refused))
		if b.String() != want {
			t.Errorf("refused %v:\n%s\nwant\n%s", refused, b.String(), want)
		}
	}
}
