package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/report"
)

// A recorded host given by --sysfs-root alone takes its /proc, state
// directory and host config from beside it, never from the real host:
// the lock and the undo record of pci-assignable-add land in the tree,
// the real /var/lib/xlpt is not created, and the in-use check reads the
// tree's /proc.
func TestRecordedHostLeavesRealHostAlone(t *testing.T) {
	realState, err := os.Stat(pcibind.DefaultStateDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	tr, bdf := sampleHost(t)
	e1000e := bdf("e1000e")
	// The tree's own /proc: the NVMe holds "/" there.
	os.MkdirAll(filepath.Join(tr.Root, "proc/net"), 0o755)
	os.WriteFile(filepath.Join(tr.Root, "proc/mounts"), []byte("/dev/nvme0n1p1 / ext4 rw 0 0\n"), 0o644)
	os.WriteFile(filepath.Join(tr.Root, "proc/net/route"), []byte("Iface\tDestination\n"), 0o644)

	run(t, "--sysfs-root", tr.Root, "pci-assignable-add", "--driver", "pci-stub", e1000e)
	if _, err := os.Stat(filepath.Join(tr.Root, "var/lib/xlpt/lock")); err != nil {
		t.Errorf("the host lock is not in the recorded host's state dir: %v", err)
	}
	after, err := os.Stat(pcibind.DefaultStateDir)
	switch {
	case realState == nil && err == nil:
		t.Errorf("a run on a recorded host created the real %s", pcibind.DefaultStateDir)
	case realState != nil && (err != nil || !after.ModTime().Equal(realState.ModTime())):
		t.Errorf("a run on a recorded host changed the real %s", pcibind.DefaultStateDir)
	}

	// check reads the tree's /proc: the NVMe holding "/" is refused, which
	// the real /proc of this machine cannot say about a simulated device.
	out, errs, _ := run(t, "--sysfs-root", tr.Root, "check", "--json", "--no-libxl")
	var rep report.CheckDoc
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s %s", err, out, errs)
	}
	found := false
	for _, d := range rep.Devices {
		if d.Driver == "nvme" {
			found = true
			if d.Verdict != "refused" || !strings.Contains(d.Message, "/") {
				t.Errorf("nvme with / mounted in the tree's /proc: %s %q", d.Verdict, d.Message)
			}
		}
	}
	if !found {
		t.Fatal("no nvme in the sample tree")
	}
}

func TestEnvDerivation(t *testing.T) {
	for _, c := range []struct {
		args                    []string
		proc, state, recordedAt string
	}{
		{nil, "/proc", pcibind.DefaultStateDir, ""},
		{[]string{"--sysfs-root", "/cap/sys"}, "/cap/proc", "/cap/var/lib/xlpt", "/cap/sys"},
		{[]string{"--sysfs-root", "/tree"}, "/tree/proc", "/tree/var/lib/xlpt", "/tree"},
		{[]string{"--sysfs-root", "/cap/sys", "--proc-root", "/p", "--state-dir", "/s"}, "/p", "/s", "/cap/sys"},
		{[]string{"--state-dir", "/s"}, "/proc", "/s", ""},
	} {
		app := newApp()
		var got *env
		app.Commands = append(app.Commands, &cli.Command{Name: "probe", Action: func(c *cli.Context) error {
			got = envOf(c)
			return nil
		}})
		args := append(append([]string{"xlpt", "--config", "/nonexistent"}, c.args...), "probe")
		if err := app.Run(args); err != nil {
			t.Fatal(err)
		}
		if got.Proc != c.proc || got.StateDir != c.state || got.Recorded != (c.recordedAt != "") {
			t.Errorf("%v: proc %s state %s recorded %v; want %s %s %v", c.args, got.Proc, got.StateDir, got.Recorded, c.proc, c.state, c.recordedAt != "")
		}
		if got.Recorded {
			if _, err := got.toolstack(); err == nil || !strings.Contains(err.Error(), "recorded host") {
				t.Errorf("%v: libxl offered for a recorded host: %v", c.args, err)
			}
		}
	}
}

// No pci.ids where distributions put it, or none where given, is a note
// (pcibind.FindPciIDs looks).
func TestPciIDsNote(t *testing.T) {
	dir := t.TempDir()
	misc, hwdata := filepath.Join(dir, "misc/pci.ids"), filepath.Join(dir, "hwdata/pci.ids")
	paths := []string{misc, hwdata}
	if n := pciIDsNote("", paths); !strings.Contains(n, "no pci.ids in "+misc+" or "+hwdata) || !strings.Contains(n, "--pci-ids") {
		t.Errorf("note %q", n)
	}
	os.MkdirAll(filepath.Dir(hwdata), 0o755)
	os.WriteFile(hwdata, []byte("8086  Intel Corporation\n"), 0o644)
	if n := pciIDsNote("", paths); n != "" {
		t.Errorf("hwdata there: %q", n)
	}
	if n := pciIDsNote("/x/pci.ids", paths); !strings.Contains(n, "--pci-ids") {
		t.Errorf("given, not there: %q", n)
	}
}
