package hotplug

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Issue 25: an intent record is bound to its world (the boot, the
// guest, the live run that wrote it) and read as untrusted input: one
// that belongs to another world, or cannot be read as a record, is
// reported and never acted on against another guest.

// plantRecord writes an intent record into the crash world's journal as
// a file, the way a dead run (or a tampered file) leaves it.
func (w *crashWorld) plantRecord(name string, rec map[string]any) string {
	w.t.Helper()
	for k, v := range map[string]any{"id": strings.TrimSuffix(name, ".json"), "done": []string{}, "pid": 999999999,
		"cmdline": "xlpt dead run", "time": "2020-01-02T03:04:05Z"} {
		if _, ok := rec[k]; !ok {
			rec[k] = v
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.state, "journal", name)
	mustWrite(w.t, p, string(b))
	return p
}

func (w *crashWorld) devices(names ...string) []map[string]any {
	var out []map[string]any
	for _, n := range names {
		out = append(out, map[string]any{"bdf": w.dev[n].String(), "driver": w.orig[w.dev[n]]})
	}
	return out
}

// recover runs `xlpt recover` (dry: --dry-run) in a new process.
func (w *crashWorld) recover(dry bool) (RecoverReport, error) {
	var rep RecoverReport
	err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
		var err error
		rep, err = svc.Recover(dry)
		return err
	})
	return rep, err
}

// setBootID gives the simulated /proc this boot's id.
func (w *crashWorld) setBootID(id string) {
	mustWrite(w.t, filepath.Join(w.proc, "sys/kernel/random/boot_id"), id+"\n")
}

func (w *crashWorld) mustBe(name, want string) {
	w.t.Helper()
	st, err := w.stateOf(w.dev[name])
	if err != nil || st != want {
		w.t.Errorf("%s is %q (%v); want %s", name, st, err, want)
	}
}

// journalFiles lists the records left in the journal directory.
func (w *crashWorld) journalFiles() []string {
	ents, _ := os.ReadDir(filepath.Join(w.state, "journal"))
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	return out
}

// hvm1 holds nic; the world's state for the stale-record cases.
func nicInHVM1(t *testing.T) *crashWorld {
	w := newCrashWorld(t)
	w.do(hide("nic"))
	w.do(attach("hvm1", "nic", 7, false, false))
	w.mustBe("nic", inDomain(1))
	return w
}

// An attach record for domid 1 "oldguest" left by a run before the last
// reboot must not make an unrelated pci-assignable-add take the NIC out
// of hvm1, which has domid 1 in this boot.
func TestRecordFromAnotherBootIsNotActedOn(t *testing.T) {
	w := nicInHVM1(t)
	w.setBootID("2b1c6f1e-0000-4000-8000-000000000002")
	w.plantRecord("1-99-attach.json", map[string]any{"version": 1, "op": "attach", "domid": 1, "domain": "oldguest", "hvm": true,
		"boot_id": "2b1c6f1e-0000-4000-8000-000000000001", "devices": w.devices("nic", "mf.0")})
	var res AssignableResult
	err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
		var err error
		res, err = svc.AssignableAdd(AssignableRequest{Device: w.dev["old1"], Group: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.mustBe("nic", inDomain(1))
	w.mustBe("mf.0", inDom0)
	w.mustBe("old1", inAssignable)
	if got := w.journalFiles(); len(got) != 0 {
		t.Errorf("the stale record is still in the journal: %v", got)
	}
	_ = res
}

// The same boot, but domid 1 is another guest now (the record's guest
// was destroyed and the domid reused): the record's devices are left
// alone, reported for the operator.
func TestRecordNamingAnotherGuestLeavesItsDevicesAlone(t *testing.T) {
	w := nicInHVM1(t)
	w.plantRecord("1-99-attach.json", map[string]any{"version": 1, "op": "attach", "domid": 1, "domain": "oldguest", "hvm": true,
		"devices": w.devices("nic", "mf.0")})
	rep, err := w.recover(false)
	if err != nil {
		t.Fatal(err)
	}
	w.mustBe("nic", inDomain(1))
	w.mustBe("mf.0", inDom0)
	said := repairsText(rep)
	for _, want := range []string{"oldguest", "hvm1", "left alone"} {
		if !strings.Contains(said, want) {
			t.Errorf("recover does not say %q:\n%s", want, said)
		}
	}
}

func repairsText(rep RecoverReport) string {
	var s []string
	for _, r := range rep.Repairs {
		s = append(s, r.Device.String()+": "+r.Problem+": "+r.Action+" "+r.Err)
	}
	return strings.Join(append(rep.Records, s...), "\n")
}

// A record whose run is still alive (its pid runs the command the record
// names) is not settled under it: recover leaves it alone, and a change
// refuses, naming the run.
func TestLiveRunsRecordIsLeftAlone(t *testing.T) {
	w := newCrashWorld(t)
	pid := 4242
	mustWrite(t, filepath.Join(w.proc, "4242/cmdline"), "xlpt\x00pci-assignable-add\x00"+w.dev["nic"].String()+"\x00")
	w.plantRecord("1-4242-hide.json", map[string]any{"version": 1, "op": "hide", "pid": pid,
		"cmdline": "xlpt pci-assignable-add " + w.dev["nic"].String(), "devices": w.devices("nic")})
	rep, err := w.recover(false)
	if err != nil {
		t.Fatal(err)
	}
	w.mustBe("nic", inDom0)
	if got := w.journalFiles(); len(got) != 1 {
		t.Errorf("the live run's record was settled: journal %v", got)
	}
	if said := repairsText(rep); !strings.Contains(said, "pid 4242") || !strings.Contains(said, "still running") {
		t.Errorf("recover does not name the live run:\n%s", said)
	}
	err, _ = w.run(func(svc *Service, _ *pcibind.Sysfs) error {
		_, err := svc.AssignableAdd(AssignableRequest{Device: w.dev["mf.0"]})
		return err
	})
	mustFail(t, err, ErrRunning, "pid 4242", "pci-assignable-add")
	w.mustBe("nic", inDom0)
	w.mustBe("mf.0", inDom0)
}

// An operation this xlpt does not know, or a record of a newer format,
// is never taken for "make assignable": the dom0 NIC it names keeps its
// driver, and the record is moved aside with a message.
func TestUnknownRecordsAreNeverMadeAssignable(t *testing.T) {
	for name, rec := range map[string]map[string]any{
		"unknown op":     {"version": 1, "op": "frobnicate"},
		"future version": {"version": 99, "op": "hide"},
		"bad stub":       {"version": 1, "op": "hide", "stub": "e1000e"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newCrashWorld(t)
			rec["devices"] = w.devices("nic")
			w.plantRecord("1-99-x.json", rec)
			err, _ := w.run(func(svc *Service, _ *pcibind.Sysfs) error {
				_, err := svc.AssignableAdd(AssignableRequest{Device: w.dev["mf.0"]})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			w.mustBe("nic", inDom0)
			w.mustBe("mf.0", inAssignable)
			if got := w.journalFiles(); len(got) != 0 {
				t.Errorf("journal %v; want the record moved aside", got)
			}
			if q, _ := filepath.Glob(filepath.Join(w.state, "journal", "quarantine", "*")); len(q) != 1 {
				t.Errorf("quarantine holds %v; want the record", q)
			}
		})
	}
}

// A corrupt (truncated) record is moved aside with a message instead of
// refusing every command and recover itself.
func TestCorruptRecordIsQuarantinedNotAWall(t *testing.T) {
	w := newCrashWorld(t)
	p := filepath.Join(w.state, "journal", "1-99-hide.json")
	mustWrite(t, p, `{"version": 1, "op": "hide", "devi`)
	rep, err := w.recover(true)
	if err != nil {
		t.Fatalf("recover --dry-run: %v", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("a dry run moved the record: %v", err)
	}
	if said := repairsText(rep); !strings.Contains(said, "1-99-hide.json") || !strings.Contains(said, "would move it") {
		t.Errorf("dry run says:\n%s", said)
	}
	err, _ = w.run(func(svc *Service, _ *pcibind.Sysfs) error {
		_, err := svc.AssignableAdd(AssignableRequest{Device: w.dev["nic"]})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w.mustBe("nic", inAssignable)
	if _, err := os.Stat(filepath.Join(w.state, "journal", "quarantine", "1-99-hide.json")); err != nil {
		t.Errorf("the corrupt record was not moved aside: %v", err)
	}
}

// A driver named by a record reaches libxl (driver_path, for a later
// pci-assignable-remove -r) only if it is a driver under
// /sys/bus/pci/drivers of this host.
func TestRecordDriverPathIsChecked(t *testing.T) {
	w := newCrashWorld(t)
	nic := w.dev["nic"]
	if err := w.k.WriteAttr(filepath.Join(w.root, "bus/pci/drivers/e1000e/unbind"), nic.String()); err != nil {
		t.Fatal(err)
	}
	w.plantRecord("1-99-hide.json", map[string]any{"version": 1, "op": "hide",
		"devices": []map[string]any{{"bdf": nic.String(), "driver": "../../../../devices/x"}}})
	rep, err := w.recover(false)
	if err != nil {
		t.Fatal(err)
	}
	if p := w.ts.xsDriverPath[nic]; strings.Contains(p, "..") {
		t.Errorf("libxl was given the driver path %q from the record", p)
	}
	if said := repairsText(rep); !strings.Contains(said, "../../../../devices/x") {
		t.Errorf("recover does not say it ignored the record's driver:\n%s", said)
	}
	_ = xl.PciBdf{}
}
