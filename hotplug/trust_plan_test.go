package hotplug

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Issue 25: a migration plan comes from another host (or from a file
// anyone with the path could write): it is read as untrusted input, and
// never makes xlpt take a device it should not.

// editPlan rewrites the plan file at path through a JSON map, as a
// tampered or corrupted plan would be.
func editPlan(t *testing.T, path string, edit func(p map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	edit(p)
	if b, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func planDevices(p map[string]any) []map[string]any {
	var out []map[string]any
	for _, d := range p["devices"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// A plan is read strictly: a BDF that is not one, a plan of 100,000
// devices, a file of megabytes, an unknown state are refused when the
// plan is loaded, before anything is read of the host.
func TestPlanIsReadStrictly(t *testing.T) {
	w, path := detached(t)
	good, _ := os.ReadFile(path)
	for name, edit := range map[string]func(p map[string]any){
		"bdf garbage":        func(p map[string]any) { planDevices(p)[0]["bdf"] = "garbage" },
		"bdf out of range":   func(p map[string]any) { planDevices(p)[0]["bdf"] = "0000:00:20.0" },
		"target bdf garbage": func(p map[string]any) { planDevices(p)[0]["target_bdf"] = "0000:zz:00.0" },
		"group garbage":      func(p map[string]any) { planDevices(p)[0]["group"] = "bridge" },
		"state unknown":      func(p map[string]any) { planDevices(p)[0]["state"] = "teleported" },
		"phase unknown":      func(p map[string]any) { p["phase"] = "whenever" },
		"kind unknown":       func(p map[string]any) { p["kind"] = "steal" },
		"vdevfn out of range": func(p map[string]any) {
			planDevices(p)[0]["vdevfn"] = 4096
		},
		"rdm policy unknown": func(p map[string]any) {
			planDevices(p)[0]["options"].(map[string]any)["rdm_policy"] = "lax"
		},
		"100000 devices": func(p map[string]any) {
			d := planDevices(p)[0]
			devs := make([]any, 100000)
			for i := range devs {
				devs[i] = d
			}
			p["devices"] = devs
		},
		"nested PF identity": func(p map[string]any) {
			id := planDevices(p)[0]["identity"].(map[string]any)
			inner := map[string]any{"vendor": "8086", "device": "1521", "subsystem_vendor": "0000", "subsystem_device": "0000", "class": "020000", "revision": "01"}
			inner["pf"] = map[string]any{"vendor": "8086", "device": "1521", "subsystem_vendor": "0000", "subsystem_device": "0000", "class": "020000", "revision": "01"}
			id["pf"], id["vf_index"] = inner, 0
		},
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(path, good, 0o644)
			editPlan(t, path, edit)
			_, err := FilePlan{Path: path}.Load()
			mustFail(t, err, ErrPlan, path)
			m, _ := w.migration(path, 0)
			w.ts.calls = nil
			_, err = m.Rollback("hvm1")
			mustFail(t, err, ErrPlan)
			w.noAdds()
		})
	}
	big := append([]byte(`{"version": 1, "kind": "migrate", "events": [`), []byte(strings.Repeat(`{"step": "x"},`, 400000))...)
	os.WriteFile(path, append(big, []byte(`{}]}`)...), 0o644)
	_, err := FilePlan{Path: path}.Load()
	mustFail(t, err, ErrPlan, "bytes")
}

// rollback puts back the devices the plan names only if each is the
// device the plan describes (its identity), and only on the host that
// made the plan.
func TestRollbackChecksIdentityAndSourceHost(t *testing.T) {
	t.Run("identity", func(t *testing.T) {
		w, path := detached(t)
		// The plan's nic1 is nic2's BDF now, with nic1's identity made
		// multi's: "one device's identity and another's BDF".
		editPlan(t, path, func(p map[string]any) {
			for _, d := range planDevices(p) {
				if d["bdf"] == w.bdf["nic1"].String() {
					d["bdf"] = w.bdf["nic2"].String()
					id := d["identity"].(map[string]any)
					id["vendor"], id["device"] = "10de", "1b80"
				}
			}
		})
		m, _ := w.migration(path, 0)
		w.ts.calls = nil
		_, err := m.Rollback("hvm1")
		mustFail(t, err, ErrPlan, w.bdf["nic2"].String(), "10de:1b80")
		w.noAdds()
		if got := w.where("nic2")["nic2"]; got != "assignable" {
			t.Errorf("nic2 is %s", got)
		}
	})
	t.Run("source host", func(t *testing.T) {
		w, path := detached(t)
		editPlan(t, path, func(p map[string]any) { p["source_host"] = "elsewhere" })
		m, _ := w.migration(path, 0)
		w.ts.calls = nil
		_, err := m.Rollback("hvm1")
		mustFail(t, err, ErrPlan, "elsewhere", "src")
		w.noAdds()
	})
}

// A plan that says "detached" while the device is back in the guest (put
// there by hand, or by a run whose plan write was lost) is settled from
// libxl's list: rollback and attach both finish instead of failing for
// good on "already attached".
func TestPlanSaysDetachedButTheGuestHoldsIt(t *testing.T) {
	for _, cmd := range []string{"rollback", "attach"} {
		t.Run(cmd, func(t *testing.T) {
			w, path := detached(t)
			if _, err := w.attach("hvm1", "nic1", 6); err != nil {
				t.Fatal(err)
			}
			m, _ := w.migration(path, 0)
			var err error
			if cmd == "rollback" {
				_, err = m.Rollback("hvm1")
			} else {
				w.migrate(1, 4)
				_, err = m.Attach(MigrateAttachRequest{Domain: "hvm1"})
			}
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			wantBack(t, w)
		})
	}
}

// seedWorld: a host whose eth0 (a NIC dom0 routes through) is what a
// plan's device matches, a guest hvm1 on it, a libxl fake.
func seedWorld(t *testing.T) (*bindWorld, *fakeToolstack) {
	w := newBindWorld(t)
	ts := newFake()
	ts.addDomain(1, "hvm1", xl.DomainTypeHVM)
	w.svc.ts = ts
	return w, ts
}

// The dom0-use refusals guard every path that hides a device: seize in a
// plan is never taken (it would hide the NIC dom0 routes through), and
// --assign on migrate attach or pci-attach meets the same refusals as
// pci-assignable-add.
func TestPlanSeizeAndAssignMeetTheDom0Refusals(t *testing.T) {
	plan := func(t *testing.T, w *bindWorld) string {
		id, err := identityOf(w.host, w.eth0)
		if err != nil {
			t.Fatal(err)
		}
		p := &Plan{Version: PlanVersion, Kind: "migrate", Domain: "hvm1", SourceHost: "src", Phase: PhaseDetached,
			Devices: []PlanDevice{{BDF: w.eth0.String(), Vdevfn: uint32(xl.Vdevfn(6, 0)), GuestSlot: "06.0", FuncMask: 1,
				Options: PlanOptions{Seize: true}, Assignable: PlanAssignable{Driver: "pciback"}, Identity: id, State: StateDetached}}}
		path := filepath.Join(t.TempDir(), "p")
		if err := (FilePlan{Path: path}).Save(p); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("seize in the plan", func(t *testing.T) {
		w, ts := seedWorld(t)
		m := &Migration{s: w.svc, plans: FilePlan{Path: plan(t, w)}, hostname: "dst"}
		_, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"})
		mustFail(t, err, ErrNotAssignable, w.eth0.String(), "--assign")
		assertUntouched(t, ts, w.eth0)
	})
	t.Run("migrate attach --assign", func(t *testing.T) {
		w, ts := seedWorld(t)
		m := &Migration{s: w.svc, plans: FilePlan{Path: plan(t, w)}, hostname: "dst"}
		_, err := m.Attach(MigrateAttachRequest{Domain: "hvm1", Assign: true})
		mustFail(t, err, ErrNeedsForce, w.eth0.String(), "default route", "pci-assignable-add --force")
		assertUntouched(t, ts, w.eth0)
	})
	t.Run("pci-attach --assign", func(t *testing.T) {
		w, ts := seedWorld(t)
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = w.eth0, 1
		_, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: d, Assign: true})
		mustFail(t, err, ErrNeedsForce, w.eth0.String(), "default route")
		assertUntouched(t, ts, w.eth0)
	})
}

func assertUntouched(t *testing.T, ts *fakeToolstack, b xl.PciBdf) {
	t.Helper()
	for _, c := range ts.calls {
		if strings.HasSuffix(c, b.String()) && (strings.HasPrefix(c, "add ") || strings.HasPrefix(c, "assignable-add ")) {
			t.Errorf("%s was taken: %v", b, ts.calls)
		}
	}
}

// The plan file is locked for a command's whole length: another run (on
// another host sharing the file, or with another state directory) is
// refused, naming the plan.
func TestPlanFileIsLocked(t *testing.T) {
	w, path := detached(t)
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	m, _ := w.migration(path, 0)
	m.s.lockTimeout = 300 * time.Millisecond
	w.ts.calls = nil
	_, err = m.Rollback("hvm1")
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, ErrPlanBusy) {
		t.Errorf("rollback while another run holds the plan: %v", err)
	}
	w.noAdds()
	_ = pcibind.DriverPciback
}
