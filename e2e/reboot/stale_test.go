//go:build e2e

package reboot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/e2e/testbed"
)

// TestStaleRecordAfterReboot (issue 25): an intent record a run left
// before a reboot ("attach 00:03.0 and 00:05.0 to rb1, domain 1", the
// boot's id in it) reaches the second boot, where the first change is
// xlpt-restore.service's restore, before xendomains starts rb1 (which
// gets domid 1 again). The record is of another boot: it is set aside
// (journal/quarantine), reported, and never acted on: 00:05.0 stays on
// its dom0 driver (settling the record as an attach that died would have
// made it assignable), rb1 gets 00:03.0 from the host setup, and no
// record is left pending. Two boots, like TestRebootRestore.
func TestStaleRecordAfterReboot(t *testing.T) {
	repo, err := testbed.FindRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.Build(repo, os.Stderr); err != nil {
		t.Fatal(err)
	}
	const other = "0000:00:05.0" // e1000e, dom0's in both boots
	tb1 := boot(t, repo, "stale-1", "")
	boot1 := strings.TrimSpace(sh(t, tb1, "cat /proc/sys/kernel/random/boot_id"))
	cfg := sh(t, tb1, "tb-cfg pv "+guest+" \"'"+nic+"'\" >/dev/null && cat /etc/xen/"+guest+".cfg")
	id := sh(t, tb1, "cat /sys/bus/pci/devices/"+nic+"/vendor /sys/bus/pci/devices/"+nic+"/device")
	if err := tb1.Close(); err != nil {
		t.Logf("first boot: close: %v", err)
	}
	ids := strings.Fields(strings.ReplaceAll(id, "0x", ""))
	if boot1 == "" || len(ids) != 2 {
		t.Fatalf("first boot: boot id %q, %s ids %q", boot1, nic, id)
	}
	rec, _ := json.Marshal(map[string]any{"version": 1, "id": "1-4242-attach", "op": "attach", "domid": 1, "domain": guest,
		"devices": []map[string]any{{"bdf": nic}, {"bdf": other}}, "done": []string{}, "pid": 4242,
		"cmdline": "xlpt pci-attach " + guest + " " + nic, "time": time.Now().UTC().Format(time.RFC3339), "boot_id": boot1})
	overlay := t.TempDir()
	for path, data := range map[string]string{
		"etc/xlpt/devices.conf":            fmt.Sprintf("assignable  %s  %s:%s driver=pciback\n", nic, ids[0], ids[1]),
		"etc/xen/auto/" + guest + ".cfg":   cfg,
		"var/lib/xlpt/journal/1-4242.json": string(rec),
	} {
		// Directories as a root file system has them (the overlay's
		// modes are applied to dom0's own /etc and /var).
		p := filepath.Join(overlay, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tb2 := boot(t, repo, "stale-2", overlay)
	defer tb2.Close()
	if boot2 := strings.TrimSpace(sh(t, tb2, "cat /proc/sys/kernel/random/boot_id")); boot2 == boot1 {
		t.Fatalf("the second boot has the first one's id %s", boot1)
	}
	if d := strings.TrimSpace(sh(t, tb2, "cd -P /sys/bus/pci/devices/"+other+"/driver && echo ${PWD##*/}")); d != "e1000e" {
		t.Errorf("%s is on %q after the boot; the stale record must not have moved it from e1000e", other, d)
	}
	if q := sh(t, tb2, "ls /var/lib/xlpt/journal/quarantine/ 2>&1; ls /var/lib/xlpt/journal/*.json 2>/dev/null | wc -l"); !strings.Contains(q, "1-4242.json") || !strings.HasSuffix(strings.TrimSpace(q), "0") {
		t.Errorf("the stale record is not set aside (quarantine; none pending):\n%s", q)
	}
	glog := "/var/log/xen/console/guest-" + guest + ".log"
	if _, serr, code := run(t, tb2, "tb-wait "+glog+" 'GUEST: READY' 300"); code != 0 {
		t.Fatalf("guest %s not ready: %s", guest, serr)
	}
	if xl := sh(t, tb2, "xl pci-list "+guest); !strings.Contains(xl, nic) {
		t.Errorf("xl pci-list %s lacks %s:\n%s", guest, nic, xl)
	}
	var doc struct {
		Records []string `json:"records"`
	}
	if out := sh(t, tb2, "xlpt recover --dry-run --json"); json.Unmarshal([]byte(out), &doc) != nil || len(doc.Records) != 0 {
		t.Errorf("records still pending after the boot: %s", out)
	}
}
