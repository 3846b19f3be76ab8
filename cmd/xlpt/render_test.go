package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/report"
)

// Warnings take one road: on stderr as "xlpt: CMD: warning: ..." whatever
// the log level, as JSON records under --log-format json, and in the
// --json document.
func TestWarningsOneRoad(t *testing.T) {
	tr, bdf := sampleHost(t)
	e1000 := bdf("e1000")
	// hiding one device of a same-domain group warns
	base := []string{"--sysfs-root", tr.Root, "--log-level", "error", "hide-cmdline", e1000}
	out, errs, code := run(t, base...)
	if code != 0 || !strings.HasPrefix(errs, "xlpt: hide-cmdline: warning: ") || !strings.Contains(errs, "must go to the same domain") {
		t.Errorf("--log-level error: exit %d, stderr %q", code, errs)
	}
	if !strings.HasPrefix(out, "xen-pciback.hide=") {
		t.Errorf("stdout %q", out)
	}
	nwarn := strings.Count(errs, "\n")

	_, errs, _ = run(t, append([]string{"--log-format", "json"}, base...)...)
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != nwarn {
		t.Errorf("--log-format json: %d records for %d warnings: %q", len(lines), nwarn, errs)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["level"] != "warning" || rec["command"] != "hide-cmdline" || rec["msg"] == "" {
			t.Errorf("--log-format json: record %q (%v)", l, err)
		}
	}

	out, _, _ = run(t, append(base, "--json")...)
	var doc report.HideDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Warnings) != nwarn || doc.Schema != report.Schema {
		t.Errorf("--json: %v %s", err, out)
	}
}

// hide-cmdline BB:DD.* on a slot holding only SR-IOV VFs hides the VFs
// (it said "no such device").
func TestHideCmdlineVFSlot(t *testing.T) {
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	var slot string
	var vfs []string
	for _, f := range tr.Funcs {
		if f.IsVF {
			s := f.BDF
			s.Func = 0
			slot = strings.TrimSuffix(s.String(), ".0") + ".*"
			vfs = append(vfs, "("+f.BDF.String()+")")
		}
	}
	if slot == "" {
		t.Fatal("no VFs in the sample")
	}
	out, errs, code := run(t, "--sysfs-root", tr.Root, "hide-cmdline", slot)
	if code != 0 || strings.TrimSpace(out) != "xen-pciback.hide="+strings.Join(vfs, "") || !strings.Contains(errs, "note: "+slot+": SR-IOV VFs") {
		t.Errorf("hide-cmdline %s: exit %d, %q, %q", slot, code, out, errs)
	}
}

// sampleHost is the simulated sample host on disk, and its functions by
// driver.
func sampleHost(t *testing.T) (*pcitest.Tree, func(driver string) string) {
	t.Helper()
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	return tr, func(driver string) string {
		for _, f := range tr.Funcs {
			if f.Driver == driver {
				return f.BDF.String()
			}
		}
		t.Fatalf("no %s in the sample host", driver)
		return ""
	}
}

// A run waiting for the host lock says so while it waits, on the same
// road as warnings (not through logrus, which --log-level error silences).
func TestLockWaitOnTheOneRoad(t *testing.T) {
	tr, bdf := sampleHost(t)
	state := filepath.Join(t.TempDir(), "state")
	unlock, err := pcibind.Lock(state)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	conf := filepath.Join(t.TempDir(), "xlpt.conf")
	os.WriteFile(conf, []byte("lock_timeout = 2\n"), 0o644)
	_, errs, code := run(t, "--sysfs-root", tr.Root, "--config", conf, "--state-dir", state, "--log-level", "error",
		"pci-assignable-add", "--driver", "pci-stub", bdf("e1000e"))
	if code != 1 || !strings.Contains(errs, "xlpt: pci-assignable-add: note: waiting up to 2s for the host lock, held by") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
