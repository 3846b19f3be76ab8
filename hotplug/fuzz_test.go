package hotplug

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Fuzz targets of what xlpt reads back as untrusted input (issue 25):
// the host setup, plans, journal records, the host config. Each must
// never panic, and what it accepts must survive a round trip through
// what xlpt writes.

func FuzzParsePersist(f *testing.F) {
	for _, s := range []string{
		persistHeader + "sriov       0000:00:09.0  1b36:0010 vfs=2 autoprobe=0\n" +
			"assignable  0000:00:03.0  8086:10d3 driver=pciback name=nic1 original=e1000e\n" +
			"assignable  0000:00:09.1  1b36:0010 driver=pciback vf=0000:00:09.0/0\n",
		"assignable 0000:00:03.0 8086:10d3 name=a#b\n", "sriov 0000:00:09.0 1b36:0010\n",
		"assignable 0000:00:03.0 8086 driver=pciback\nassignable 0000:00:03.0 8086:10d3\nassignable 0000:00:03.0 8086:10d3\n",
		"assignable 3:0.0 8086:10d3 vf=0000:03:00.0/-1 original=../x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := parsePersist("devices.conf", data)
		p := &PersistFile{Path: "/nonexistent/" + PersistFileName, Entries: entries} // Bytes only
		back, err := ParsePersist("devices.conf", p.Bytes())
		if err != nil {
			t.Fatalf("what xlpt writes of %q does not read back: %v\n%s", data, err, p.Bytes())
		}
		if len(back) != len(entries) {
			t.Fatalf("%d entries read back, %d written", len(back), len(entries))
		}
		want := map[string]PersistEntry{}
		for _, e := range entries {
			e.Line = 0
			want[e.Kind+" "+e.BDF.String()] = e
		}
		for _, e := range back {
			e.Line = 0
			if w := want[e.Kind+" "+e.BDF.String()]; w.String() != e.String() || !reflect.DeepEqual(w.PF, e.PF) {
				t.Fatalf("entry %s changed on the way: %+v, read back %+v", e.BDF, want[e.Kind+" "+e.BDF.String()], e)
			}
			if err := e.check(); err != nil {
				t.Fatalf("an entry read from the file fails its check: %v", err)
			}
		}
	})
}

func FuzzParsePlan(f *testing.F) {
	f.Add([]byte(`{"version": 1, "kind": "migrate", "domain": "hvm1", "source_host": "src", "phase": "detached",
		"devices": [{"bdf": "0000:00:05.0", "vdevfn": 48, "guest_slot": "06.0", "vfunc_mask": 1,
		"options": {"msitranslate": false, "power_mgmt": false, "permissive": true, "seize": true, "rdm_policy": "strict"},
		"assignable": {"driver": "pciback", "original_driver": "e1000e"}, "group": "0000:00:04.0",
		"identity": {"vendor": "8086", "device": "10d3", "subsystem_vendor": "8086", "subsystem_device": "0000", "class": "020000", "revision": "00",
			"dsn": "00-11-22-33-44-55-66-77", "pf": {"vendor": "8086", "device": "1521", "subsystem_vendor": "0000", "subsystem_device": "0000", "class": "020000", "revision": "01"}, "vf_index": 3},
		"state": "attaching", "attach_to": "target", "target_bdf": "0000:00:06.0", "target_guest_slot": "07.0"}],
		"events": [{"time": "2024-01-01T00:00:00Z", "step": "detach", "device": "0000:00:05.0", "detail": "out"}]}`))
	f.Add([]byte(`{"version": 1, "kind": "move", "domain": "a", "to": "b", "phase": "moving", "devices": [{"bdf": "garbage"}]}`))
	f.Add([]byte(`{"version": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			return
		}
		for _, d := range p.Devices {
			if _, err := parseBDF(d.BDF); err != nil {
				t.Fatalf("an accepted plan has a bad BDF: %v", err)
			}
			_ = d.devicePci(d.bdf())
			_ = p.Where(d)
		}
		_ = p.Status()
		_ = units(p)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePlan(b); err != nil {
			t.Fatalf("an accepted plan does not read back: %v\n%s", err, b)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"version": 1, "id": "1-2-attach", "op": "attach", "domid": 1, "domain": "hvm1", "domain_uuid": "12345678-9abc-def0-0123-456789abcdef", "hvm": true,
		  "devices": [{"bdf": "0000:01:00.0", "driver": "e1000e", "assign": true, "vdevfn": 56}], "done": ["assigned 0000:01:00.0"],
		  "pid": 42, "cmdline": "xlpt pci-attach", "time": "2024-01-01T00:00:00Z", "boot_id": "b"}`,
		`{"version": 1, "op": "sriov", "sriov": {"PF": "0000:00:09.0", "NumVFs": 2, "Assignable": true}, "dir": "/etc/xlpt",
		  "setup": {"dir": "/etc/xlpt", "set": [{"kind": "sriov", "bdf": "0000:00:09.0", "vendor": 6966, "device": 16, "vfs": 2}], "drop": ["0000:00:03.0"]}}`,
		`{"version": 1, "op": "sriov"}`, `{"version": 1, "op": "frob", "devices": [{"bdf": "0000:01:00.0", "driver": "../x"}]}`,
		`{"version": 0, "op": "hide", "stub": "pci-stub", "devices": [{"bdf": "0000:01:00.0"}]}`, `{"op": "migrate", "plan": "/p"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		_ = r.String()
		_ = recordDevices(r)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRecord(b); err != nil {
			t.Fatalf("an accepted record does not read back: %v\n%s", err, b)
		}
	})
}

func FuzzParseHostConfig(f *testing.F) {
	for _, s := range []string{"# slots\nhotplug_slots = 10-12\nstate_dir = /var/lib/xlpt\nlock_timeout = 2.5\n",
		"lock_timeout = nan\n", "state_dir = \"/srv/x\"\n", "hotplug_slots = 7\n", "x\n", "lock_timeout = 1e-12\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseHostConfig("xlpt.conf", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "xlpt.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.LockTimeout < 0 || cfg.LockTimeout > 24*time.Hour {
			t.Fatalf("lock_timeout %v accepted", cfg.LockTimeout)
		}
		if cfg.StateDir != "" && !filepath.IsAbs(cfg.StateDir) {
			t.Fatalf("relative state_dir %q accepted", cfg.StateDir)
		}
	})
}
