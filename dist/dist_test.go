package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unit = "xlpt-restore.service"

// make install honours PREFIX for the unit as for everything else; the
// Debian 12 package keeps it in /lib (issue 22: PREFIX=/usr/local still
// wrote /lib/systemd/system).
func TestInstallHonoursPrefix(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-C", "..", "-n", "--no-print-directory", "install", "PREFIX=/usr/local", "DESTDIR=/dest").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n install: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "/dest/usr/local/lib/systemd/system/"+unit) || strings.Contains(string(out), "/dest/lib/systemd") {
		t.Errorf("make install PREFIX=/usr/local does not put the unit under the prefix:\n%s", out)
	}
	if !strings.Contains(string(out), "|/usr/sbin/xlpt|/usr/local/sbin/xlpt|") {
		t.Errorf("the unit does not name the xlpt installed:\n%s", out)
	}
	out, err = exec.Command("make", "-C", "..", "-n", "--no-print-directory", "install", "PREFIX=/usr/local", "SYSTEMDUNITDIR=/etc/systemd/system", "DESTDIR=/dest").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/dest/etc/systemd/system/"+unit) {
		t.Errorf("SYSTEMDUNITDIR does not override: %v\n%s", err, out)
	}
	out, err = exec.Command("make", "-C", "..", "-n", "--no-print-directory", "deb").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system") {
		t.Errorf("make deb does not keep Debian 12's /lib: %v\n%s", err, out)
	}
}

// The package's maintainer scripts enable the unit as dh_installsystemd
// does and start nothing: run with stand-ins for deb-systemd-helper and
// systemctl, a first install enables it, an upgrade of an administrator's
// disabled unit only updates the state, and nothing is started.
func TestMaintainerScriptsEnableAndStartNothing(t *testing.T) {
	debian := t.TempDir()
	if out, err := exec.Command("../scripts/debian/maintscripts", debian, unit).CombinedOutput(); err != nil {
		t.Fatalf("maintscripts: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(debian, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(debian, name)); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", name, fi.Mode())
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(debian, name)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", name, err, out)
		}
		return string(b)
	}
	postinst, prerm, postrm := read("postinst"), read("prerm"), read("postrm")
	for _, s := range []string{postinst, prerm, postrm} {
		for _, bad := range []string{"deb-systemd-invoke start", "deb-systemd-invoke restart", "systemctl start", "systemctl restart", "invoke-rc.d"} {
			if strings.Contains(s, bad) {
				t.Errorf("a maintainer script runs %q:\n%s", bad, s)
			}
		}
	}
	for _, want := range []string{"deb-systemd-helper purge '" + unit + "'", "deb-systemd-helper mask '" + unit + "'", "rm -rf /var/lib/xlpt"} {
		if !strings.Contains(postrm, want) {
			t.Errorf("postrm lacks %q:\n%s", want, postrm)
		}
	}
	if !strings.Contains(prerm, `[ "$1" = remove ]`) {
		t.Errorf("prerm stops the unit on upgrades too:\n%s", prerm)
	}

	// Run postinst with stand-ins that log their calls.
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >>" + log + "\n" +
			"[ \"$1\" = --quiet ] && [ \"$2\" = was-enabled ] && exit ${WAS_ENABLED:-0}\nexit 0\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(wasEnabled string, args ...string) string {
		os.Remove(log)
		cmd := exec.Command(filepath.Join(debian, "postinst"), args...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "WAS_ENABLED="+wasEnabled)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postinst %v: %v\n%s", args, err, out)
		}
		b, _ := os.ReadFile(log)
		return string(b)
	}
	calls := run("0", "configure")
	if !strings.Contains(calls, "deb-systemd-helper unmask "+unit) || !strings.Contains(calls, "deb-systemd-helper enable "+unit) ||
		strings.Contains(calls, "deb-systemd-invoke") {
		t.Errorf("first install: calls\n%s\nwant unmask and enable, and nothing started", calls)
	}
	calls = run("1", "configure", "0.1.0~git1.abc")
	if strings.Contains(calls, "helper enable") || !strings.Contains(calls, "deb-systemd-helper update-state "+unit) {
		t.Errorf("upgrade of a disabled unit: calls\n%s\nwant update-state, not enable", calls)
	}
}
