package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 25: input that would end in the host setup or decide where the
// lock is, refused as malformed (exit 2) with the fix, before anything
// is read or changed.
func TestUntrustedSettingsAreRefusedAsMalformed(t *testing.T) {
	tr, bdf := sampleHost(t)
	e1000e := bdf("e1000e")
	conf := filepath.Join(t.TempDir(), "xlpt.conf")
	os.WriteFile(conf, []byte("lock_timeout = nan\n"), 0o644)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"pci-assignable-add", "--persist", "--driver", "pci-stub", "-n", "web nic#1", e1000e}, "letters, digits"},
		{[]string{"pci-assignable-add", "--persist", "--driver", "pci-stub", "-n", "nic\nsriov 0000:00:09.0 1b36:0010 vfs=7", e1000e}, "not allowed"},
		{[]string{"--state-dir", "var/lib/xlpt", "pci-assignable-add", "--driver", "pci-stub", e1000e}, "absolute path"},
		{[]string{"--config", conf, "pci-assignable-add", "--driver", "pci-stub", e1000e}, "lock_timeout"},
	} {
		_, errs, code := run(t, append([]string{"--sysfs-root", tr.Root}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.msg) {
			t.Errorf("xlpt %q: exit %d %q; want 2 saying %q", c.args, code, errs, c.msg)
		}
	}
	if d, _ := os.Readlink(filepath.Join(tr.Root, "bus/pci/devices", e1000e, "driver")); filepath.Base(d) != "e1000e" {
		t.Errorf("a refused command moved %s to %s", e1000e, d)
	}
	if _, err := os.Stat(filepath.Join(tr.Root, "etc/xlpt/devices.conf")); err == nil {
		t.Error("a refused command wrote devices.conf")
	}
}
