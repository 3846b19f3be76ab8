package hotplug

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// readOnly fails when libxl was asked to change anything: the fake
// records every change it makes (add, remove, destroy, assignable-*,
// pause, xenstore and Xen repairs), and nothing else.
func readOnly(t *testing.T, ts *fakeToolstack) {
	t.Helper()
	if len(ts.calls) > 0 {
		t.Errorf("libxl was asked to change the host: %v", ts.calls)
	}
}

// Every refusal of the detach is the dry run's, word for word, and
// neither detaches anything nor writes a plan.
func TestMigrateDetachDryRunRefusesWhatDetachRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *world)
		want  error
	}{
		{"vnuma", func(w *world) { w.ts.domains[1].cfg.VnumaNodes = 2 }, ErrNotMigratable},
		{"nomigrate", func(w *world) { w.ts.domains[1].cfg.NoMigrate = true }, ErrNotMigratable},
		{"shut down", func(w *world) { w.ts.domains[1].info.State = xl.StateShutdown }, ErrNotMigratable},
		// A lone function at a guest function other than 0: not a
		// layout the attach can rebuild.
		{"lone function", func(w *world) {
			d := w.ts.domains[1]
			var keep []xl.DevicePci
			for _, x := range d.devs {
				if x.PciBdf != w.bdf["multi.0"] {
					keep = append(keep, x)
				}
			}
			d.devs = keep
		}, ErrNotMigratable},
		{"no such domain", func(w *world) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dom := "hvm1"
			if tc.name == "no such domain" {
				dom = "web99"
			}
			errs := map[bool]string{}
			for _, dry := range []bool{true, false} {
				w := migrateWorld(t)
				tc.setup(w)
				path := filepath.Join(t.TempDir(), "p")
				m, _ := w.migration(path, 0)
				w.ts.calls = nil
				_, err := m.Detach(MigrateDetachRequest{Domain: dom, DryRun: dry})
				mustFail(t, err, tc.want)
				errs[dry] = err.Error()
				if dry {
					readOnly(t, w.ts)
				}
				if _, err := os.Stat(path); err == nil {
					t.Errorf("dry run %v: a refused detach wrote a plan", dry)
				}
			}
			if errs[true] != errs[false] {
				t.Errorf("the dry run refuses with\n  %s\nthe detach with\n  %s", errs[true], errs[false])
			}
		})
	}
}

// The dry run writes the plan the detach would start from, at phase
// preview, with every device still in the guest, without the host lock
// (held by another run here) or a journal record; the real detach then
// replaces it.
func TestMigrateDetachDryRunWritesAPreviewThatDetachReplaces(t *testing.T) {
	w := migrateWorld(t)
	state := t.TempDir()
	w.svc.stateDir, w.svc.journal, w.svc.lockTimeout = state, NewJournal(state), 300*time.Millisecond
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 0)
	unlock, err := pcibind.LockWith(state, pcibind.LockOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.ts.calls = nil
	res, err := m.Detach(MigrateDetachRequest{Domain: "hvm1", DryRun: true})
	if err != nil {
		t.Fatalf("dry run with the host lock held elsewhere: %v", err)
	}
	readOnly(t, w.ts)
	if got := w.where(migrated...); !reflect.DeepEqual(got, map[string]string{"nic1": "hvm1:06.0", "multi.0": "hvm1:07.0", "multi.1": "hvm1:07.1"}) {
		t.Errorf("devices at %v after the dry run; want all still in hvm1", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "journal")); len(ents) != 0 {
		t.Errorf("the dry run left journal records: %v", ents)
	}
	p, err := FilePlan{Path: path}.Load()
	if err != nil || p == nil {
		t.Fatalf("preview: %v %v", p, err)
	}
	// memory_kib: what Xen gives hvm1 (the fake's 256 MiB), for the target's check.
	if p.Phase != PhasePreview || p.Domain != "hvm1" || p.SourceHost != "src" || p.GuestType != "hvm" || p.Passthrough != "enabled" ||
		p.MemoryKiB != 262144 || len(p.Devices) != 3 || res.Plan == nil || res.Plan.Phase != PhasePreview {
		t.Errorf("preview %+v", p)
	}
	for _, d := range p.Devices {
		if d.State != StateInSource || d.TargetBDF != "" {
			t.Errorf("preview device %+v; want in_source, no target", d)
		}
	}
	if !strings.Contains(events(p), "nothing was detached") {
		t.Errorf("preview events:\n%s", events(p))
	}
	// The host lock is what a real detach takes: with it held, it waits
	// and gives up, changing nothing.
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); err == nil {
		t.Fatal("the real detach ran with the host lock held elsewhere")
	}
	unlock()
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); err != nil {
		t.Fatalf("the real detach over the preview: %v", err)
	}
	p, _ = FilePlan{Path: path}.Load()
	if p.Phase != PhaseDetached || strings.Contains(events(p), "nothing was detached") {
		t.Errorf("after the real detach: phase %s, events\n%s", p.Phase, events(p))
	}
	w.truthful(path, nil)
	// A plan under way is never replaced by a preview.
	before, _ := os.ReadFile(path)
	_, err = m.Detach(MigrateDetachRequest{Domain: "hvm1", DryRun: true})
	mustFail(t, err, ErrPlanState, `phase "detached"`, "give another --plan file")
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused dry run changed the plan")
	}
}

// Attach and rollback refuse a preview, saying what it is and what to
// run, before any change.
func TestMigrateAttachAndRollbackRefuseAPreview(t *testing.T) {
	w := migrateWorld(t)
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 0)
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1", DryRun: true}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	w.ts.calls = nil
	_, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"})
	mustFail(t, err, ErrPreviewPlan, "--dry-run", "nothing was detached from hvm1", "xlpt migrate detach --plan "+path+" hvm1")
	_, err = m.Rollback("hvm1")
	mustFail(t, err, ErrPreviewPlan, "nothing to put back")
	readOnly(t, w.ts)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused attach changed the preview")
	}
}

// savePlan writes p as m's plan file and returns its bytes.
func savePlan(t *testing.T, m *Migration, p *Plan) []byte {
	t.Helper()
	if err := m.plans.Save(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(m.plans.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkUnchanged runs migrate check and fails if it changed the plan
// file or asked libxl for a change.
func checkUnchanged(t *testing.T, m *Migration, ts *fakeToolstack, p *Plan, req MigrateCheckRequest) (MigrateCheck, error) {
	t.Helper()
	before := savePlan(t, m, p)
	ts.calls = nil
	res, err := m.Check(req)
	readOnly(t, ts)
	if after, _ := os.ReadFile(m.plans.Path); !bytes.Equal(before, after) {
		t.Errorf("migrate check changed the plan file:\n%s", after)
	}
	if ents, _ := os.ReadDir(filepath.Dir(m.plans.Path)); len(ents) != 1 {
		t.Errorf("migrate check left files beside the plan: %v", ents)
	}
	return res, err
}

// preview is nicPlan as a dry run writes it: the devices still in the
// guest on the source.
func preview(p *Plan) *Plan {
	p.Phase, p.GuestType, p.Passthrough = PhasePreview, "hvm", "enabled"
	for i := range p.Devices {
		p.Devices[i].State = StateInSource
	}
	return p
}

// howOf maps each plan BDF to "target how".
func howOf(res MigrateCheck) map[string]string {
	out := map[string]string{}
	for _, t := range res.Targets {
		out[t.BDF] = strings.TrimSpace(t.Target + " " + string(t.How))
	}
	return out
}

// On a target whose NICs sit at other BDFs, check maps a preview's
// devices by identity, by their own BDF, and by --map, as attach
// would, and changes nothing.
func TestMigrateCheckMapsByIdentityToOtherBDFs(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "pciback")
	res, err := checkUnchanged(t, m, ts, preview(nicPlan(id, "0000:00:06.0", "0000:00:05.0")), MigrateCheckRequest{Domain: "hvm1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0000:00:05.0": "0000:00:15.0 identity", "0000:00:06.0": "0000:00:16.0 identity"}
	if got := howOf(res); !reflect.DeepEqual(got, want) {
		t.Errorf("targets %v; want %v", got, want)
	}
	if res.Host != "dst" || res.GuestType != "hvm" || len(res.Problems) != 0 || res.Targets[0].Owner.Kind != OwnedByPciback {
		t.Errorf("check %+v", res)
	}
	// Its own BDF first; --map wins over identity.
	m, ts, id = nicTarget(t, "pciback", "pciback", "pciback")
	res, err = checkUnchanged(t, m, ts, preview(nicPlan(id, "0000:00:15.0", "0000:00:05.0")),
		MigrateCheckRequest{Map: map[string]xl.PciBdf{"0000:00:05.0": bdf(t, "0000:00:17.0")}})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"0000:00:15.0": "0000:00:15.0 same_bdf", "0000:00:05.0": "0000:00:17.0 map"}
	if got := howOf(res); !reflect.DeepEqual(got, want) {
		t.Errorf("targets %v; want %v", got, want)
	}
}

// One refusal names every problem: a device no function here matches,
// and two NICs with three candidates (with them and the --map fix).
func TestMigrateCheckRefusesNoMatchAndAmbiguity(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback", "pciback", "pciback")
	p := preview(nicPlan(id, "0000:00:06.0", "0000:00:05.0"))
	gpu := p.Devices[0]
	gpu.BDF, gpu.Identity = "0000:00:07.0", Identity{Vendor: 0x10de, Device: 0x1b80, Class: 0x030000}
	gpu.Vdevfn, gpu.GuestSlot = xl.Vdevfn(5, 0), "05.0"
	p.Devices = append(p.Devices, gpu)
	res, err := checkUnchanged(t, m, ts, p, MigrateCheckRequest{})
	t.Log(err)
	mustFail(t, err, ErrWouldRefuse, "hvm1", "3 problem(s)", "nothing was changed",
		"no free device 10de:1b80", "for 0000:00:07.0",
		"0000:00:15.0, 0000:00:16.0, 0000:00:17.0", "--map 0000:00:05.0=BDF", "--map 0000:00:06.0=BDF")
	var ae *AmbiguousError
	if !errors.As(err, &ae) || !errors.Is(err, ErrNoDevice) {
		t.Errorf("%v: want an AmbiguousError and ErrNoDevice within", err)
	}
	kinds := map[string]ProblemKind{}
	for _, pr := range res.Problems {
		kinds[pr.Device] = pr.Kind
	}
	want := map[string]ProblemKind{"0000:00:05.0": ProblemAmbiguous, "0000:00:06.0": ProblemAmbiguous, "0000:00:07.0": ProblemNoDevice}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("problems %v; want %v", kinds, want)
	}
	for _, tg := range res.Targets {
		if tg.Target != "" {
			t.Errorf("%s -> %s: a refused device has a target", tg.BDF, tg.Target)
		}
	}
}

// A target dom0 still drives is refused as attach refuses it, unless
// --assign (then attach makes it assignable first).
func TestMigrateCheckNotAssignableUnlessAssign(t *testing.T) {
	m, ts, id := nicTarget(t, "e1000e")
	_, err := checkUnchanged(t, m, ts, preview(nicPlan(id, "0000:00:05.0")), MigrateCheckRequest{})
	mustFail(t, err, ErrNotAssignable, "0000:00:15.0 is held by dom0 driver e1000e", "add --assign")
	res, err := checkUnchanged(t, m, ts, preview(nicPlan(id, "0000:00:05.0")), MigrateCheckRequest{Assign: true})
	if err != nil || !res.Targets[0].Assign {
		t.Errorf("--assign: %v, %+v; want the NIC, made assignable by the attach", err, res.Targets)
	}
}

// This host's Xen must pass devices through to the plan's kind of
// guest: hvm_directio for HVM, pv_directio for PV (physinfo's
// cap_hvm_directio with cap_hvm or cap_pv), iommu_hap_pt_share for
// share_pt.
func TestMigrateCheckRefusesAHostWithoutDirectIO(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback")
	ts.direct = false
	_, err := checkUnchanged(t, m, ts, preview(nicPlan(id, "0000:00:05.0")), MigrateCheckRequest{})
	mustFail(t, err, ErrNoIOMMU, "no hvm_directio", "HVM guest hvm1", "iommu=1")
	pv := preview(nicPlan(id, "0000:00:05.0"))
	pv.GuestType, pv.Devices[0].Vdevfn, pv.Devices[0].GuestSlot = "pv", 0, "00.0"
	_, err = checkUnchanged(t, m, ts, pv, MigrateCheckRequest{})
	mustFail(t, err, ErrNoIOMMU, "no pv_directio", "PV guest hvm1")
	// An older plan records no type: its guest slots say HVM.
	old := preview(nicPlan(id, "0000:00:05.0"))
	old.GuestType = ""
	res, err := checkUnchanged(t, m, ts, old, MigrateCheckRequest{})
	mustFail(t, err, ErrNoIOMMU, "no hvm_directio")
	if res.GuestType != "hvm" || len(res.Notes) != 1 {
		t.Errorf("older plan: type %q, notes %v", res.GuestType, res.Notes)
	}
	ts.direct = true
	share := preview(nicPlan(id, "0000:00:05.0"))
	share.Passthrough = "share_pt"
	_, err = checkUnchanged(t, m, ts, share, MigrateCheckRequest{})
	mustFail(t, err, ErrHostLacks, "share_pt", "iommu_hap_pt_share")
}

// Check reads a plan as attach does: a plan at a phase past the
// migration, or of another guest, is refused; so is no plan.
func TestMigrateCheckRefusesAPlanItCannotUse(t *testing.T) {
	m, ts, id := nicTarget(t, "pciback")
	p := nicPlan(id, "0000:00:05.0")
	p.Phase = PhaseAttached
	_, err := checkUnchanged(t, m, ts, p, MigrateCheckRequest{})
	mustFail(t, err, ErrPlanState, `phase "attached"`)
	_, err = checkUnchanged(t, m, ts, nicPlan(id, "0000:00:05.0"), MigrateCheckRequest{Domain: "hvm2"})
	mustFail(t, err, ErrPlan, "the plan of hvm1, not of hvm2")
	m.plans.Path += ".none"
	_, err = m.Check(MigrateCheckRequest{})
	mustFail(t, err, ErrPlan, "no plan at")
}

// On the source host itself (a localhost migration), checked before the
// detach: the guest's own devices at their own BDFs are its targets.
func TestMigrateCheckOnTheSourceHostBeforeTheDetach(t *testing.T) {
	w := migrateWorld(t)
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 0)
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1", DryRun: true}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	w.ts.calls = nil
	res, err := m.Check(MigrateCheckRequest{Domain: "hvm1"})
	if err != nil {
		t.Fatal(err)
	}
	readOnly(t, w.ts)
	for _, tg := range res.Targets {
		if tg.Target != tg.BDF || tg.How != MatchSameBDF {
			t.Errorf("%s -> %s (%s); want its own BDF", tg.BDF, tg.Target, tg.How)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("migrate check changed the preview")
	}
}

// The target must have free at least the memory the guest held on the
// source (the plan's), unless xl balloons dom0 for it there: xl.conf's
// autoballoon, whose "auto" is off when Xen's command line sets
// dom0_mem= (xl's own rule). Then the shortfall is a note.
func TestMigrateCheckRefusesATargetShortOfMemory(t *testing.T) {
	const dom0Mem = "console=com1 dom0_mem=1024M,max:1024M iommu=1"
	m, ts, id := nicTarget(t, "pciback")
	p := preview(nicPlan(id, "0000:00:05.0"))
	p.MemoryKiB = 512 << 10
	ts.freeKiB, ts.cmdline = 1<<20, dom0Mem
	if res, err := checkUnchanged(t, m, ts, p, MigrateCheckRequest{}); err != nil || len(res.Notes) != 0 {
		t.Fatalf("1 GiB free for 512 MiB: %v, notes %v", err, res.Notes)
	}

	ts.freeKiB = 256 << 10
	res, err := checkUnchanged(t, m, ts, p, MigrateCheckRequest{})
	mustFail(t, err, ErrHostMemory, "hvm1 holds 512 MiB", "has 256 MiB free", "sets dom0_mem=", "free 256 MiB more", "xl destroy")
	if len(res.Problems) != 1 || res.Problems[0].Kind != ProblemMemory || res.Problems[0].Device != "" {
		t.Errorf("problems %+v; want one host_memory problem of the guest", res.Problems)
	}

	// No dom0_mem=: xl takes the rest from dom0.
	ts.cmdline = "console=com1 iommu=1"
	res, err = checkUnchanged(t, m, ts, p, MigrateCheckRequest{})
	if err != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "takes the other 256 MiB from dom0") {
		t.Errorf("autoballoon: %v, notes %v; want a note of the ballooning", err, res.Notes)
	}

	// xl.conf decides over "auto", either way; its last setting wins.
	conf := filepath.Join(t.TempDir(), "xl.conf")
	m.s.xlConf = conf
	writeFile := func(t *testing.T, path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, conf, "# xl.conf\nautoballoon=\"on\"\nautoballoon = \"off\" # dom0 keeps its memory\n")
	_, err = checkUnchanged(t, m, ts, p, MigrateCheckRequest{})
	mustFail(t, err, ErrHostMemory, `autoballoon="off" in `+conf)
	ts.cmdline = dom0Mem
	writeFile(t, conf, "autoballoon=1\n")
	if res, err = checkUnchanged(t, m, ts, p, MigrateCheckRequest{}); err != nil || len(res.Notes) != 1 {
		t.Errorf("autoballoon=1 in xl.conf: %v, notes %v; want a note", err, res.Notes)
	}

	// A plan an older xlpt wrote holds no memory: not checked.
	writeFile(t, conf, "autoballoon=\"off\"\n")
	p.MemoryKiB = 0
	if _, err := checkUnchanged(t, m, ts, p, MigrateCheckRequest{}); err != nil {
		t.Errorf("a plan without memory_kib: %v", err)
	}
}
