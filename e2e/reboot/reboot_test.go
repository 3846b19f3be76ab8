//go:build e2e

// Package reboot is the boot path on a real Debian dom0: systemd, Debian's
// own Xen init scripts (xen, xendomains), a disk that survives the reboot
// (scripts/testbed/dom0-disk, an overlay per run). The test installs
// xlpt's package with dpkg -i as an operator would (its maintainer scripts
// enable xlpt-restore.service), records host setup with --persist (the
// NVMe's VFs, hidden; a NIC, hidden) and a guest in /etc/xen/auto, reboots
// dom0 with `systemctl reboot`, and checks after the reboot that systemd
// ran the restore after xenfs and xenstored were up and before xendomains
// started the guest, which has its devices. A stale intent record written
// just before the reboot (issue 25: "attach 00:03.0 and 00:05.0 to rb1,
// domain 1", the first boot's id in it; rb1 is domain 1 again after the
// reboot) is set aside and never acted on. Last, dpkg -r and -P leave no
// unit behind.
package reboot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	other   = "0000:00:05.0" // e1000e, dom0's in both boots
	guest   = "rb1"
	unit    = "xlpt-restore.service"
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

// settle waits for systemd to finish the boot and fails on a unit that
// failed (the testbed's dom0 has none when all is well).
func settle(t *testing.T, tb *testbed.Testbed) {
	t.Helper()
	state, _, _ := run(t, tb, "systemctl is-system-running --wait")
	if st := strings.TrimSpace(state); st != "running" {
		t.Errorf("systemd after the boot: %q; failed units:\n%s", st, sh(t, tb, "systemctl --failed --no-legend; journalctl -b -p err --no-pager | tail -n 30"))
	}
}

// monotonic returns, for each unit, a systemd timestamp property (µs since
// boot).
func monotonic(t *testing.T, tb *testbed.Testbed, prop string, units ...string) map[string]int64 {
	t.Helper()
	out := sh(t, tb, "systemctl show -p Id -p "+prop+" "+strings.Join(units, " "))
	m := map[string]int64{}
	id := ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Id="); ok {
			id = v
		} else if v, ok := strings.CutPrefix(l, prop+"="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n == 0 {
				t.Errorf("%s of %s: %q (the unit did not run?)", prop, id, v)
			}
			m[id] = n
		}
	}
	return m
}

var restoreLine = regexp.MustCompile(`(?m)^(applied|already|refused|failed) +(\S+) +(\S+)`)

func TestRebootRestore(t *testing.T) {
	start := time.Now()
	repo, err := testbed.FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.Build(repo, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if err := testbed.BuildDisk(repo, os.Stderr); err != nil {
		t.Fatal(err)
	}
	// The package, handed to dom0 over a read-only 9p share.
	share := t.TempDir()
	if err := copyFile(filepath.Join(testbed.Dir(repo), "xlpt.deb"), filepath.Join(share, "xlpt.deb")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	tb, err := testbed.Boot(ctx, testbed.Options{Repo: repo, Name: "reboot", Output: os.Stderr,
		Disk: filepath.Join(t.TempDir(), "dom0.qcow2"), Share: share})
	cancel()
	if err != nil {
		t.Fatal(testbed.BootFailed("e2e/reboot", err))
	}
	defer tb.Close()
	t.Logf("systemd dom0: Xen boot to dom0 agent %.1fs (serial log %s)", tb.BootTime.Seconds(), tb.Log)
	settle(t, tb)
	booted := time.Since(start)

	// Installed as an operator would: the package enables the unit, and
	// starts nothing.
	t1 := time.Now()
	sh(t, tb, "mkdir -p /mnt/share && mount -t 9p -o trans=virtio,version=9p2000.L xlpt.share /mnt/share && dpkg -i /mnt/share/xlpt.deb")
	if st, _, _ := run(t, tb, "systemctl is-enabled "+unit); strings.TrimSpace(st) != "enabled" {
		t.Errorf("after dpkg -i, %s is %q, want enabled", unit, strings.TrimSpace(st))
	}
	if st, _, _ := run(t, tb, "systemctl is-active "+unit); strings.TrimSpace(st) != "inactive" {
		t.Errorf("after dpkg -i, %s is %q: the package must not start it", unit, strings.TrimSpace(st))
	}

	// The operator's setup, with --persist, and a guest for xendomains.
	pf := "/sys/bus/pci/devices/" + nvmePF
	sh(t, tb, "xlpt sriov enable --assignable --persist "+nvmePF+" 2")
	sh(t, tb, "xlpt pci-assignable-add --persist -n nic1 "+nic)
	conf := sh(t, tb, "cat /etc/xlpt/devices.conf")
	for _, want := range []string{"sriov       " + nvmePF + "  ", " vfs=2 autoprobe=0",
		"assignable  " + nvmeVF1 + "  ", "vf=" + nvmePF + "/0", "vf=" + nvmePF + "/1",
		"assignable  " + nic + "  8086:10d3 driver=pciback name=nic1 original=e1000e"} {
		if !strings.Contains(conf, want) {
			t.Errorf("devices.conf lacks %q:\n%s", want, conf)
		}
	}
	if line := strings.TrimSpace(sh(t, tb, "xlpt hide-cmdline --persisted 2>/dev/null")); line != "xen-pciback.hide=("+nic+")" {
		t.Errorf("hide-cmdline --persisted = %q", line)
	}
	sh(t, tb, "tb-cfg pv "+guest+" \"'"+nvmeVF1+"', '"+nic+"'\" >/dev/null && mv /etc/xen/"+guest+".cfg /etc/xen/auto/")
	// Last before the reboot (no xlpt run may see it in this boot): the
	// record of an attach that died, of this boot.
	boot1 := strings.TrimSpace(sh(t, tb, "cat /proc/sys/kernel/random/boot_id"))
	rec, _ := json.Marshal(map[string]any{"version": 1, "id": "1-4242-attach", "op": "attach", "domid": 1, "domain": guest,
		"devices": []map[string]any{{"bdf": nic}, {"bdf": other}}, "done": []string{}, "pid": 4242,
		"cmdline": "xlpt pci-attach " + guest + " " + nic, "time": time.Now().UTC().Format(time.RFC3339), "boot_id": boot1})
	sh(t, tb, "mkdir -p /var/lib/xlpt/journal && cat >/var/lib/xlpt/journal/1-4242.json <<'EOF'\n"+string(rec)+"\nEOF")
	setup := time.Since(t1)
	if t.Failed() {
		t.FailNow()
	}

	// The reboot, for real: systemd stops everything, Xen resets the
	// machine, the same disk boots again.
	t2 := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	err = tb.Reboot(rctx, "systemctl reboot")
	rcancel()
	if err != nil {
		t.Fatal(err)
	}
	rebooted := time.Since(t2)
	settle(t, tb)
	t3 := time.Now()

	// The order: xen.service (xenfs, xenstored, xen-init-dom0) before the
	// restore, the restore ended before xendomains began.
	t.Logf("critical chain:\n%s", sh(t, tb, "systemd-analyze critical-chain "+unit+" xendomains.service --no-pager"))
	began := monotonic(t, tb, "InactiveExitTimestampMonotonic", "xen.service", unit, "xendomains.service")
	done := monotonic(t, tb, "ActiveEnterTimestampMonotonic", "xen.service", unit, "xendomains.service")
	if !(done["xen.service"] <= began[unit] && done[unit] <= began["xendomains.service"]) {
		t.Errorf("boot order: xen.service active at %dµs, %s ran %d-%dµs, xendomains began at %dµs; want xen, then the restore, then xendomains",
			done["xen.service"], unit, began[unit], done[unit], began["xendomains.service"])
	}
	journal := sh(t, tb, "journalctl -b -o short-monotonic --no-pager -u xen -u "+unit+" -u xendomains")
	t.Logf("the boot's journal for xen, %s, xendomains:\n%s", unit, journal)
	restored := sh(t, tb, "journalctl -b -o cat --no-pager -u "+unit)
	outcomes := map[string]string{}
	for _, m := range restoreLine.FindAllStringSubmatch(restored, -1) {
		outcomes[m[3]] = m[1]
	}
	for _, b := range []string{nvmePF, nvmeVF1, nvmeVF2, nic} {
		if outcomes[b] != "applied" {
			t.Errorf("boot-time restore: %s %q, want applied; its journal:\n%s", b, outcomes[b], restored)
		}
	}
	for _, vf := range []string{nvmeVF1, nvmeVF2, nic} {
		if d := strings.TrimSpace(sh(t, tb, "cd -P /sys/bus/pci/devices/"+vf+"/driver && echo ${PWD##*/}")); d != "pciback" {
			t.Errorf("%s on %q after the reboot, want pciback", vf, d)
		}
	}
	if n := strings.TrimSpace(sh(t, tb, "cat "+pf+"/sriov_numvfs "+pf+"/sriov_drivers_autoprobe")); n != "2\n0" {
		t.Errorf("PF after the reboot: numvfs/autoprobe %q, want 2 and 0", n)
	}
	// xendomains started the guest with both devices, no manual step.
	vfID := strings.TrimSpace(sh(t, tb, "echo $(cat /sys/bus/pci/devices/"+nvmeVF1+"/vendor):$(cat /sys/bus/pci/devices/"+nvmeVF1+"/device)"))
	glog := "/var/log/xen/console/guest-" + guest + ".log"
	if _, serr, code := run(t, tb, "tb-wait "+glog+" 'GUEST: READY' 300"); code != 0 {
		t.Fatalf("guest %s not ready: %s\n%s", guest, serr, sh(t, tb, "xl list; tail -n 30 "+glog+"; journalctl -b -u xendomains --no-pager | tail -n 20"))
	}
	gl := sh(t, tb, "grep -a 'GUEST-PCI:' "+glog)
	for _, want := range []string{vfID, "0x8086:0x10d3"} {
		if !strings.Contains(gl, want) {
			t.Errorf("guest %s lists no %s:\n%s", guest, want, gl)
		}
	}
	if xl := sh(t, tb, "xl pci-list "+guest); !strings.Contains(xl, nvmeVF1) || !strings.Contains(xl, nic) {
		t.Errorf("xl pci-list %s:\n%s", guest, xl)
	}
	// The stale record: set aside, reported, not acted on.
	if d := strings.TrimSpace(sh(t, tb, "cd -P /sys/bus/pci/devices/"+other+"/driver && echo ${PWD##*/}")); d != "e1000e" {
		t.Errorf("%s is on %q after the boot; the stale record must not have moved it from e1000e", other, d)
	}
	if q := sh(t, tb, "ls /var/lib/xlpt/journal/quarantine/ 2>&1; ls /var/lib/xlpt/journal/*.json 2>/dev/null | wc -l"); !strings.Contains(q, "1-4242.json") || !strings.HasSuffix(strings.TrimSpace(q), "0") {
		t.Errorf("the stale record is not set aside (quarantine; none pending):\n%s", q)
	}
	var pending struct {
		Records []string `json:"records"`
	}
	if out := sh(t, tb, "xlpt recover --dry-run --json"); json.Unmarshal([]byte(out), &pending) != nil || len(pending.Records) != 0 {
		t.Errorf("records still pending after the boot: %s", out)
	}
	// Idempotent: a second restore changes nothing.
	sh(t, tb, "xl destroy "+guest)
	again := sh(t, tb, "xlpt restore")
	if strings.Count("\n"+again, "\nalready ") != 4 || !strings.Contains(again, "0 applied, 4 already so, 0 refused, 0 failed") {
		t.Errorf("second restore:\n%s", again)
	}

	// Removed, then purged: no unit, enablement or mask left behind.
	leftovers := "find /etc/systemd /lib/systemd /usr/lib/systemd /var/lib/systemd -name '*xlpt*' 2>/dev/null"
	sh(t, tb, "dpkg -r xlpt")
	if out := sh(t, tb, "ls /lib/systemd/system/"+unit+" /usr/lib/systemd/system/"+unit+" 2>/dev/null; true"); strings.TrimSpace(out) != "" {
		t.Errorf("after dpkg -r the unit file is still there: %s", out)
	}
	sh(t, tb, "dpkg -P xlpt")
	if out := sh(t, tb, leftovers); strings.TrimSpace(out) != "" {
		t.Errorf("after dpkg -P, left behind:\n%s", out)
	}
	fmt.Fprintf(os.Stderr, "\n=== reboot timings: boot to systemd running %.1fs; install and setup %.1fs; systemctl reboot to the agent %.1fs; checks and dpkg -r/-P %.1fs; whole test %.1fs\n",
		booted.Seconds(), setup.Seconds(), rebooted.Seconds(), time.Since(t3).Seconds(), time.Since(start).Seconds())
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
