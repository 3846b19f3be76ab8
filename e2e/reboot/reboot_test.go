//go:build e2e

// Package reboot is the testbed across a reboot: a first boot records
// host setup with --persist (the NVMe's VFs, hidden; a NIC, hidden), its
// /etc/xlpt and a guest config for /etc/xen/auto are carried to a second
// boot (an extra initramfs archive: the testbed's stand-in for a disk),
// where dom0's init runs xlpt-restore.service's command before starting
// any guest, and the guest gets its devices with no manual step.
package reboot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

const (
	nvmePF  = "0000:00:09.0"
	nvmeVF1 = "0000:00:09.1"
	nvmeVF2 = "0000:00:09.2"
	nic     = "0000:00:03.0" // e1000e
	guest   = "rb1"
)

func run(t *testing.T, tb *testbed.Testbed, cmd string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	out, serr, code, err := tb.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("dom0: %s: %v\n%s", cmd, err, tb.LogTail(40))
	}
	t.Logf("dom0$ %s  [exit %d, %.2fs]\n%s%s", cmd, code, time.Since(start).Seconds(), out, serr)
	if err := testbed.CheckJSON(cmd, out); err != nil {
		t.Error(err)
	}
	return out, serr, code
}

func sh(t *testing.T, tb *testbed.Testbed, cmd string) string {
	t.Helper()
	out, serr, code := run(t, tb, cmd)
	if code != 0 {
		t.Fatalf("dom0: %s: exit %d\n%s%s", cmd, code, out, serr)
	}
	return out
}

func boot(t *testing.T, repo, name, overlay string) *testbed.Testbed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tb, err := testbed.Boot(ctx, testbed.Options{Repo: repo, Name: name, Output: os.Stderr, Dom0Overlay: overlay})
	if err != nil {
		t.Fatalf("boot %s: %v", name, err)
	}
	t.Logf("%s: Xen boot to dom0 agent %.1fs (serial log %s)", name, tb.BootTime.Seconds(), tb.Log)
	return tb
}

var restoreLine = regexp.MustCompile(`TESTBED: restore: (applied|already|refused|failed) +(\S+) +(\S+)`)

func TestRebootRestore(t *testing.T) {
	start := time.Now()
	repo, err := testbed.FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.Build(repo, os.Stderr); err != nil {
		t.Fatal(err)
	}

	// First boot: the operator's setup, with --persist.
	tb1 := boot(t, repo, "reboot-1", "")
	t1 := time.Now()
	pf := "/sys/bus/pci/devices/" + nvmePF
	sh(t, tb1, "xlpt sriov enable --assignable --persist "+nvmePF+" 2")
	sh(t, tb1, "xlpt pci-assignable-add --persist -n nic1 "+nic)
	conf := sh(t, tb1, "cat /etc/xlpt/devices.conf")
	for _, want := range []string{"sriov       " + nvmePF + "  ", " vfs=2 autoprobe=0",
		"assignable  " + nvmeVF1 + "  ", "vf=" + nvmePF + "/0", "vf=" + nvmePF + "/1",
		"assignable  " + nic + "  8086:10d3 driver=pciback name=nic1 original=e1000e"} {
		if !strings.Contains(conf, want) {
			t.Errorf("devices.conf lacks %q:\n%s", want, conf)
		}
	}
	if line := strings.TrimSpace(sh(t, tb1, "xlpt hide-cmdline --persisted 2>/dev/null")); line != "xen-pciback.hide=("+nic+")" {
		t.Errorf("hide-cmdline --persisted = %q", line)
	}
	// The guest xendomains will start on the second boot.
	cfg := sh(t, tb1, "tb-cfg pv "+guest+" \"'"+nvmeVF1+"', '"+nic+"'\" >/dev/null && cat /etc/xen/"+guest+".cfg")
	first := time.Since(t1)
	if err := tb1.Close(); err != nil {
		t.Logf("first boot: close: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}

	overlay := t.TempDir()
	for path, data := range map[string]string{"etc/xlpt/devices.conf": conf, "etc/xen/auto/" + guest + ".cfg": cfg} {
		p := filepath.Join(overlay, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Second boot: nothing but /etc/xlpt and /etc/xen/auto carried over.
	tb2 := boot(t, repo, "reboot-2", overlay)
	defer tb2.Close()
	t2 := time.Now()
	log, err := os.ReadFile(tb2.Log)
	if err != nil {
		t.Fatal(err)
	}
	serial := string(log)
	var restored []string
	outcomes := map[string]string{}
	for _, m := range restoreLine.FindAllStringSubmatch(serial, -1) {
		outcomes[m[3]] = m[1]
		restored = append(restored, m[0])
	}
	t.Logf("boot-time restore, from the serial log:\n%s", grepLines(serial, "TESTBED: (restore|xlpt-restore|xendomains)"))
	for _, b := range []string{nvmePF, nvmeVF1, nvmeVF2, nic} {
		if outcomes[b] != "applied" {
			t.Errorf("boot-time restore: %s %q, want applied", b, outcomes[b])
		}
	}
	iRestore := strings.Index(serial, "xlpt-restore.service: exit 0")
	iGuest := strings.Index(serial, "xendomains: started /etc/xen/auto/"+guest+".cfg")
	if iRestore < 0 || iGuest < 0 || iGuest < iRestore {
		t.Errorf("want the restore to end (exit 0) before xendomains started %s: restore at %d, guest at %d", guest, iRestore, iGuest)
	}
	for _, vf := range []string{nvmeVF1, nvmeVF2} {
		if d := strings.TrimSpace(sh(t, tb2, "cd -P /sys/bus/pci/devices/"+vf+"/driver && echo ${PWD##*/}")); d != "pciback" {
			t.Errorf("%s on %q after the reboot, want pciback", vf, d)
		}
	}
	if n := strings.TrimSpace(sh(t, tb2, "cat "+pf+"/sriov_numvfs "+pf+"/sriov_drivers_autoprobe")); n != "2\n0" {
		t.Errorf("PF after the reboot: numvfs/autoprobe %q, want 2 and 0", n)
	}
	// The guest got both devices, no manual step.
	vfID := strings.TrimSpace(sh(t, tb2, "echo $(cat /sys/bus/pci/devices/"+nvmeVF1+"/vendor):$(cat /sys/bus/pci/devices/"+nvmeVF1+"/device)"))
	glog := "/var/log/xen/console/guest-" + guest + ".log"
	if _, serr, code := run(t, tb2, "tb-wait "+glog+" 'GUEST: READY' 300"); code != 0 {
		t.Fatalf("guest %s not ready: %s\n%s", guest, serr, sh(t, tb2, "xl list; tail -n 30 "+glog+"; cat /var/log/xendomains.log"))
	}
	gl := sh(t, tb2, "grep -a 'GUEST-PCI:' "+glog)
	for _, want := range []string{vfID, "0x8086:0x10d3"} {
		if !strings.Contains(gl, want) {
			t.Errorf("guest %s lists no %s:\n%s", guest, want, gl)
		}
	}
	if xl := sh(t, tb2, "xl pci-list "+guest); !strings.Contains(xl, nvmeVF1) || !strings.Contains(xl, nic) {
		t.Errorf("xl pci-list %s:\n%s", guest, xl)
	}
	// Idempotent: a second restore changes nothing.
	again := sh(t, tb2, "xlpt restore")
	if strings.Count("\n"+again, "\nalready ") != 4 || !strings.Contains(again, "0 applied, 4 already so, 0 refused, 0 failed") {
		t.Errorf("second restore:\n%s", again)
	}
	fmt.Fprintf(os.Stderr, "\n=== reboot timings: first boot setup %.1fs; second boot: Xen boot to agent %.1fs (restore and guest start inside it); checks %.1fs; whole test %.1fs\n=== boot-time restore lines:\n%s\n",
		first.Seconds(), tb2.BootTime.Seconds(), time.Since(t2).Seconds(), time.Since(start).Seconds(), strings.Join(restored, "\n"))
}

func grepLines(s, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			out = append(out, strings.TrimRight(l, "\r"))
		}
	}
	return strings.Join(out, "\n")
}
