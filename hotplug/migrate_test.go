package hotplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// crash stands for SIGKILL: a panic that the test recovers. Nothing
// after it runs; deferred undo stacks see no error and do nothing, as
// after a real kill.
type crash struct{}

// crashAfter counts steps (libxl changes and plan writes) and crashes
// after step n (0: never). Devices may step at once (parallel.go).
type crashAfter struct {
	mu       sync.Mutex
	n, steps int
}

func (c *crashAfter) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps++
	// Every step from the crash on dies too: the devices detached or
	// attached at once (parallel.go) stop with the process.
	if c.n > 0 && c.steps >= c.n {
		panic(crash{})
	}
}

// crashTS crashes after each libxl change the fake made.
type crashTS struct {
	*fakeToolstack
	c *crashAfter
}

func (t crashTS) PciAdd(id uint32, d xl.DevicePci) error {
	err := t.fakeToolstack.PciAdd(id, d)
	if err == nil {
		t.c.step()
	}
	return err
}

func (t crashTS) PciRemove(id uint32, d xl.DevicePci) error {
	err := t.fakeToolstack.PciRemove(id, d)
	if err == nil {
		t.c.step()
	}
	return err
}

func (t crashTS) PciDestroy(id uint32, d xl.DevicePci) error {
	err := t.fakeToolstack.PciDestroy(id, d)
	if err == nil {
		t.c.step()
	}
	return err
}

// migration is a Migration over the world whose plan file is path and
// which crashes after step n.
func (w *world) migration(path string, n int) (*Migration, *crashAfter) {
	c := &crashAfter{n: n}
	svc := *w.svc
	svc.ts = crashTS{w.ts, c}
	return &Migration{s: &svc, plans: FilePlan{Path: path, nosync: true, afterSave: c.step}, hostname: "src"}, c
}

// run calls f, reporting whether it crashed.
func run(f func() error) (crashed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	return false, f()
}

// where says where every named device is: "dom:slot.fn", or "assignable".
func (w *world) where(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		b := w.bdf[n]
		out[n] = "lost"
		for _, d := range w.ts.domains {
			for _, x := range d.devs {
				if x.PciBdf == b {
					out[n] = fmt.Sprintf("%s:%02x.%x", d.info.Name, x.VSlot(), x.VFunc())
				}
			}
		}
		if out[n] == "lost" && w.ts.assignable(b) {
			out[n] = "assignable"
		}
	}
	return out
}

// truthful checks that the plan says where each device is: in_source
// and in_target devices are in the guest at their slot, the others
// assignable.
func (w *world) truthful(path string, guest map[string]string) {
	w.t.Helper()
	p, err := FilePlan{Path: path}.Load()
	if err != nil || p == nil {
		w.t.Fatalf("plan: %v %v", p, err)
	}
	byBDF := map[string]string{}
	for n, b := range w.bdf {
		byBDF[b.String()] = n
	}
	for _, d := range p.Devices {
		n := byBDF[d.BDF]
		got := w.where(n)[n]
		switch d.State {
		case StateInSource, StateInTarget:
			slot := d.GuestSlot
			if d.State == StateInTarget && d.TargetSlot != "" {
				slot = d.TargetSlot
			}
			want := guest[string(d.State)] + ":" + slot
			if got != want {
				w.t.Errorf("plan says %s is %s (%s); it is %s\n%s", d.BDF, d.State, want, got, events(p))
			}
		case StateDetached:
			if got != "assignable" {
				w.t.Errorf("plan says %s is detached; it is %s\n%s", d.BDF, got, events(p))
			}
		default:
			w.t.Errorf("plan left %s in %s after a complete run", d.BDF, d.State)
		}
	}
}

func events(p *Plan) string {
	var s []string
	for _, e := range p.Events {
		s = append(s, fmt.Sprintf("  %s %s %s", e.Step, e.Device, e.Detail))
	}
	return strings.Join(s, "\n")
}

// hvm1 holds nic1 in slot 6 and both functions of multi in slot 7.
func migrateWorld(t *testing.T) *world {
	w := newWorld(t, nil)
	if _, err := w.attach("hvm1", "nic1", 6); err != nil {
		t.Fatal(err)
	}
	spec := w.spec("multi.0", 7)
	spec.VfuncMask, spec.Permissive = xl.FuncAll, true
	if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: spec}); err != nil {
		t.Fatal(err)
	}
	return w
}

var migrated = []string{"nic1", "multi.0", "multi.1"}

func TestPlanWriteRead(t *testing.T) {
	w := migrateWorld(t)
	path := filepath.Join(t.TempDir(), "hvm1.plan")
	m, _ := w.migration(path, 0)
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); err != nil {
		t.Fatal(err)
	}
	p, err := FilePlan{Path: path}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != PlanVersion || p.Kind != "migrate" || p.Domain != "hvm1" || p.Phase != PhaseDetached || p.SourceHost != "src" {
		t.Errorf("plan header %+v", p)
	}
	got := map[string]PlanDevice{}
	for _, d := range p.Devices {
		got[d.BDF] = d
	}
	m0 := got[w.bdf["multi.0"].String()]
	if m0.GuestSlot != "07.0" || m0.Vdevfn != 0x38 || !m0.Options.Permissive || m0.Identity.Vendor != 0x10de || m0.Identity.Device != 0x1b80 ||
		m0.State != StateDetached || m0.Assignable.Driver != "pciback" || m0.FuncMask != 1 {
		t.Errorf("multi.0 recorded as %+v", m0)
	}
	if m1 := got[w.bdf["multi.1"].String()]; m1.GuestSlot != "07.1" || m1.Identity.Device != 0x1b81 {
		t.Errorf("multi.1 recorded as %+v", m1)
	}
	if n := got[w.bdf["nic1"].String()]; n.GuestSlot != "06.0" || n.Options.Permissive || n.Identity.Class != 0x020000 {
		t.Errorf("nic1 recorded as %+v", n)
	}
	// The file is the whole plan, and nothing else is left in the directory.
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"vendor": "10de"`, `"device": "1b81"`, `"class": "020000"`, `"guest_slot": "07.1"`, `"state": "detached"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the plan file lacks %s", want)
		}
	}
	var back Plan
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(&back, p) {
		t.Errorf("plan does not survive a JSON round trip: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// Another version or another domain is refused, naming the file.
	back.Version = 99
	if err := (FilePlan{Path: path}).Save(&back); err != nil {
		t.Fatal(err)
	}
	_, err = FilePlan{Path: path}.Load()
	mustFail(t, err, ErrPlan, path, "version 99")
	os.WriteFile(path, raw, 0o644)
	_, err = m.Detach(MigrateDetachRequest{Domain: "hvm2"})
	mustFail(t, err, ErrPlan, "the plan of hvm1, not of hvm2")
}

// The guest "moves": libxl gives it a new domid, as xl migrate does.
func (w *world) migrate(from, to uint32) {
	d := w.ts.domains[from]
	delete(w.ts.domains, from)
	d.info.Domid = to
	w.ts.domains[to] = d
}

// crashEverywhere runs cmd with a crash after step 1, 2, ... until a run
// completes; after each crash it runs cmd again without crashes, and
// check says whether the world is right.
func crashEverywhere(t *testing.T, setup func(t *testing.T) (*world, string), cmd func(w *world, m *Migration) error, check func(w *world, path string)) {
	w, path := setup(t)
	restore := w.snapshot(path)
	for n := 1; ; n++ {
		restore()
		m, c := w.migration(path, n)
		crashed, err := run(func() error { return cmd(w, m) })
		if !crashed {
			if err != nil {
				t.Fatalf("run without a crash: %v", err)
			}
			check(w, path)
			if n < 3 {
				t.Fatalf("only %d steps: the crash points were not reached", c.steps)
			}
			t.Logf("%d crash points", n-1)
			return
		}
		m2, _ := w.migration(path, 0)
		if err := cmd(w, m2); err != nil {
			t.Fatalf("re-run after a crash at step %d: %v", n, err)
		}
		if t.Failed() {
			return
		}
		check(w, path)
		if t.Failed() {
			t.Fatalf("after a crash at step %d and a re-run", n)
		}
	}
}

func TestMigrateDetachCrashAnywhereThenRerun(t *testing.T) {
	setup := func(t *testing.T) (*world, string) { return migrateWorld(t), filepath.Join(t.TempDir(), "p") }
	crashEverywhere(t, setup, func(_ *world, m *Migration) error {
		_, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"})
		return err
	}, func(w *world, path string) {
		for n, at := range w.where(migrated...) {
			if at != "assignable" {
				t.Errorf("%s is %s after detach; want assignable", n, at)
			}
		}
		w.truthful(path, nil)
	})
}

// snapshot saves the fake libxl's state and the plan; the function it
// returns puts both back (building a world is slow).
func (w *world) snapshot(path string) func() {
	w.t.Helper()
	plan, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		w.t.Fatal(err)
	}
	saved := w.ts.clone()
	return func() {
		*w.ts = *saved.clone()
		os.Remove(path)
		if plan != nil {
			os.WriteFile(path, plan, 0o644)
		}
	}
}

// clone copies the fake's state (not its simulated kernel: these tests
// do not use one).
func (f *fakeToolstack) clone() *fakeToolstack {
	c := *f
	c.mu = &sync.Mutex{}
	c.domains = map[uint32]*fakeDomain{}
	for id, d := range f.domains {
		c.domains[id] = &fakeDomain{d.info, d.cfg, append([]xl.DevicePci(nil), d.devs...), d.paused, d.logDirty}
	}
	c.staleInDM = map[uint32]map[uint8]xl.PciBdf{}
	for id, m := range f.staleInDM {
		c.staleInDM[id] = copyMap(m)
	}
	c.pciback, c.fail, c.xsDomid, c.xsDriverPath = copyMap(f.pciback), copyMap(f.fail), copyMap(f.xsDomid), copyMap(f.xsDriverPath)
	c.xenOwner, c.quarantined = copyMap(f.xenOwner), copyMap(f.quarantined)
	c.calls = append([]string(nil), f.calls...)
	c.asked = copyMap(f.asked)
	return &c
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// detached is the world after migrate detach and xl migrate (domid 1 -> 4).
func detached(t *testing.T) (*world, string) {
	w := migrateWorld(t)
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 0)
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); err != nil {
		t.Fatal(err)
	}
	return w, path
}

func wantBack(t *testing.T, w *world) {
	t.Helper()
	want := map[string]string{"nic1": "hvm1:06.0", "multi.0": "hvm1:07.0", "multi.1": "hvm1:07.1"}
	if got := w.where(migrated...); !reflect.DeepEqual(got, want) {
		t.Errorf("devices at %v; want %v", got, want)
	}
	for _, d := range w.ts.domains[w.domid("hvm1")].devs {
		if d.PciBdf.Slot() == w.bdf["multi.0"] && !d.Permissive {
			t.Errorf("%s lost its permissive option", d.PciBdf)
		}
	}
}

func (w *world) domid(name string) uint32 {
	id, _ := w.ts.DomainQualifierToID(name)
	return id
}

func TestMigrateAttachCrashAnywhereThenRerun(t *testing.T) {
	setup := func(t *testing.T) (*world, string) {
		w, path := detached(t)
		w.migrate(1, 4)
		return w, path
	}
	crashEverywhere(t, setup, func(_ *world, m *Migration) error {
		_, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"})
		return err
	}, func(w *world, path string) {
		wantBack(t, w)
		w.truthful(path, map[string]string{"in_target": "hvm1"})
	})
}

func TestMigrateRollbackCrashAnywhereThenRerun(t *testing.T) {
	crashEverywhere(t, detached, func(_ *world, m *Migration) error {
		_, err := m.Rollback("hvm1")
		return err
	}, func(w *world, path string) {
		wantBack(t, w)
		w.truthful(path, map[string]string{"in_source": "hvm1"})
	})
}

func TestRollbackOfAHalfDoneDetach(t *testing.T) {
	w := migrateWorld(t)
	path := filepath.Join(t.TempDir(), "p")
	w.ts.fail["remove "+w.bdf["multi.0"].String()] = errors.New("boom")
	m, _ := w.migration(path, 0)
	_, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"})
	mustFail(t, err, nil, "boom", "xlpt migrate rollback --plan "+path+" hvm1")
	if got := w.where("multi.1")["multi.1"]; got != "assignable" {
		t.Fatalf("multi.1 is %s; the detach should have got that far", got)
	}
	w.truthful(path, map[string]string{"in_source": "hvm1"})
	delete(w.ts.fail, "remove "+w.bdf["multi.0"].String())
	if _, err := m.Rollback("hvm1"); err != nil {
		t.Fatal(err)
	}
	wantBack(t, w)
}

func TestMigrateAttachAllOrNone(t *testing.T) {
	w, path := detached(t)
	w.migrate(1, 4)
	w.ts.fail["add "+w.bdf["nic1"].String()] = fmt.Errorf("qemu said no: %w", xl.ErrFail)
	m, _ := w.migration(path, 0)
	_, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"})
	mustFail(t, err, nil, "all or none", "qemu said no", path)
	for n, at := range w.where(migrated...) {
		if at != "assignable" {
			t.Errorf("%s is %s after the failed attach; want assignable (undone)", n, at)
		}
	}
	w.truthful(path, nil)
	p, _ := FilePlan{Path: path}.Load()
	if !strings.Contains(events(p), "undo") {
		t.Errorf("the plan does not record the undo:\n%s", events(p))
	}
	// Fixed, the same command completes.
	delete(w.ts.fail, "add "+w.bdf["nic1"].String())
	if _, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"}); err != nil {
		t.Fatal(err)
	}
	wantBack(t, w)
}

func TestMigrateRefusesBeforeAnyDetach(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(d *fakeDomain)
		want  []string
	}{
		{"vnuma", func(d *fakeDomain) { d.cfg.VnumaNodes = 2 }, []string{"2 vNUMA nodes", "remove vnuma= from its xl.cfg"}},
		{"nomigrate", func(d *fakeDomain) { d.cfg.NoMigrate = true }, []string{"nomigrate=1", "set nomigrate=0"}},
		{"shut down", func(d *fakeDomain) { d.info.State = xl.StateShutdown }, []string{"shutdown, not running"}},
		{"pv with passthrough", func(d *fakeDomain) { d.info.Type, d.cfg.Type = xl.DomainTypePV, xl.DomainTypePV },
			[]string{"PV guest created with passthrough (enabled)", "Failed to enable logdirty", "make it an HVM guest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := migrateWorld(t)
			tc.setup(w.ts.domains[1])
			path := filepath.Join(t.TempDir(), "p")
			m, _ := w.migration(path, 0)
			w.ts.calls = nil
			_, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"})
			mustFail(t, err, ErrNotMigratable, append(tc.want, "nothing was detached")...)
			for _, c := range w.ts.calls {
				if strings.HasPrefix(c, "remove") || strings.HasPrefix(c, "destroy") {
					t.Errorf("refused after a change: %v", w.ts.calls)
				}
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("a refused detach wrote a plan")
			}
		})
	}
}

func multiSpec(w *world, slot uint8) xl.DevicePci {
	spec := w.spec("multi.0", slot)
	spec.VfuncMask = xl.FuncAll
	return spec
}

func TestPciMoveCrashAnywhereThenRerun(t *testing.T) {
	setup := func(t *testing.T) (*world, string) { return migrateWorld(t), filepath.Join(t.TempDir(), "p") }
	crashEverywhere(t, setup, func(w *world, m *Migration) error {
		_, err := m.Move(MoveRequest{From: "hvm1", To: "hvm2", Device: multiSpec(w, 6)})
		return err
	}, func(w *world, path string) {
		want := map[string]string{"nic1": "hvm1:06.0", "multi.0": "hvm2:06.0", "multi.1": "hvm2:06.1"}
		if got := w.where(migrated...); !reflect.DeepEqual(got, want) {
			t.Errorf("devices at %v; want %v", got, want)
		}
		w.truthful(path, map[string]string{"in_target": "hvm2"})
	})
}

func TestPciMoveFailedAttachGoesBackCrashAnywhere(t *testing.T) {
	setup := func(t *testing.T) (*world, string) {
		w := migrateWorld(t)
		// hvm2's QEMU still has a device in slot 6 that libxl forgot
		// (another tool's failed attach) and will not let it go: the
		// attach there fails.
		w.ts.staleInDM[2] = map[uint8]xl.PciBdf{0x30: w.bdf["nic3"]}
		w.ts.fail["dm-remove "+w.bdf["nic3"].String()] = errors.New("QMP device_del: device is busy")
		return w, filepath.Join(t.TempDir(), "p")
	}
	crashEverywhere(t, setup, func(w *world, m *Migration) error {
		_, err := m.Move(MoveRequest{From: "hvm1", To: "hvm2", Device: multiSpec(w, 6)})
		if err == nil {
			return errors.New("the move succeeded; the attach to hvm2 should fail")
		}
		if !strings.Contains(err.Error(), "back in hvm1 in their old slots") {
			return err
		}
		return nil
	}, func(w *world, path string) {
		want := map[string]string{"nic1": "hvm1:06.0", "multi.0": "hvm1:07.0", "multi.1": "hvm1:07.1"}
		if got := w.where(migrated...); !reflect.DeepEqual(got, want) {
			t.Errorf("devices at %v; want %v", got, want)
		}
		w.truthful(path, map[string]string{"in_source": "hvm1"})
	})
}

func TestPciMoveGroupMovesWhole(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: w.spec("old1", 6), Group: true}); err != nil {
		t.Fatal(err)
	}
	m, _ := w.migration(filepath.Join(t.TempDir(), "p"), 0)
	if _, err := m.Move(MoveRequest{From: "hvm1", To: "hvm2", Device: w.spec("old2", 0)}); err != nil {
		t.Fatal(err)
	}
	got := w.where("old1", "old2")
	if got["old1"][:5] != "hvm2:" || got["old2"] != "hvm2:06.0" {
		t.Errorf("group at %v; want both in hvm2, old2 (named) in the first free slot 6", got)
	}
	// A requested slot that TO cannot give is refused before any change.
	w.ts.calls = nil
	m2, _ := w.migration(filepath.Join(t.TempDir(), "q"), 0)
	_, err := m2.Move(MoveRequest{From: "hvm2", To: "hvm1", Device: w.spec("old1", 3)})
	mustFail(t, err, nil, "outside the hot-plug slots", "nothing was moved")
	if len(w.ts.calls) != 0 {
		t.Errorf("refused move changed something: %v", w.ts.calls)
	}
}

// Identity matching on a target host whose BDFs differ from the source.
func targetHost(t *testing.T, pfs int) *pcibind.Host {
	t.Helper()
	root := []*pcitest.Node{{Kind: pcitest.HostBridgeNode},
		// An extra port first: every BDF moves up by one.
		{Kind: pcitest.RootPort, Children: []*pcitest.Node{{Kind: pcitest.Endpoint, Vendor: 0x1af4, Device: 0x1041, Driver: "pciback"}}},
		{Kind: pcitest.RootPort, Children: []*pcitest.Node{{Kind: pcitest.Endpoint, MSI: true, FLR: true, Vendor: 0x8086, Device: 0x10d3, Driver: "pciback"}}},
		{Kind: pcitest.RootPort, Children: []*pcitest.Node{{Kind: pcitest.Endpoint, Funcs: 2, MSI: true, FLR: true, Vendor: 0x10de, Device: 0x1b80, Driver: "pciback"}}},
	}
	for i := 0; i < pfs; i++ {
		root = append(root, &pcitest.Node{Kind: pcitest.RootPort, Children: []*pcitest.Node{{Kind: pcitest.Endpoint, MSIX: 4, FLR: true,
			Vendor: 0x8086, Device: 0x1528, TotalVFs: 4, NumVFs: 2, VFDevice: 0x1515, VFDriver: "pciback", Driver: "ixgbe"}}})
	}
	tree, err := pcitest.Generate(t.TempDir(), pcitest.Topology{Drivers: []string{"pciback", "ixgbe"}, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	h, err := pcibind.New(tree.Root).Scan()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func find(t *testing.T, h *pcibind.Host, vendor, device uint16) []*pcibind.Device {
	var out []*pcibind.Device
	for _, d := range h.Devices {
		if d.Vendor == vendor && d.Device == device {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BDF.Less(out[j].BDF) })
	return out
}

func newMatcher(h *pcibind.Host, busy ...xl.PciBdf) *matcher {
	held := map[xl.PciBdf]bool{}
	for _, b := range busy {
		held[b] = true
	}
	return &matcher{host: h, all: h.Devices, taken: map[xl.PciBdf]bool{}, mapping: map[string]xl.PciBdf{},
		free: func(b xl.PciBdf) bool { return !held[b] },
		assignable: func(b xl.PciBdf) bool {
			d, ok := h.Device(b)
			return ok && !held[b] && pcibind.IsPciback(d.Driver)
		}}
}

func planDevice(t *testing.T, h *pcibind.Host, b xl.PciBdf) PlanDevice {
	t.Helper()
	id, err := identityOf(h, b)
	if err != nil {
		t.Fatal(err)
	}
	return PlanDevice{BDF: b.String(), Identity: id}
}

func TestIdentityMatchesAcrossChangedBDFs(t *testing.T) {
	w := newWorld(t, nil) // the source: nic1 at the first root port, multi later
	dst := targetHost(t, 1)
	nic := planDevice(t, w.host, w.bdf["nic1"])
	m0, m1 := planDevice(t, w.host, w.bdf["multi.0"]), planDevice(t, w.host, w.bdf["multi.1"])
	mt := newMatcher(dst)
	e1000e := find(t, dst, 0x8086, 0x10d3)
	if b, err := mt.find(nic); err != nil || b != e1000e[0].BDF {
		t.Errorf("nic1 %s -> %v %v; want %s (the one e1000e, at another BDF)", nic.BDF, b, err, e1000e[0].BDF)
	}
	if dst.Devices[0].BDF.String() == nic.BDF {
		// the source BDF holds a virtio device on the target: not taken.
		t.Logf("source BDF %s holds %04x:%04x on the target", nic.BDF, dst.Devices[0].Vendor, dst.Devices[0].Device)
	}
	gpu := find(t, dst, 0x10de, 0x1b80)
	b0, err0 := mt.find(m0)
	gpu1 := find(t, dst, 0x10de, 0x1b81)
	b1, err1 := mt.find(m1)
	if err0 != nil || err1 != nil || b0 != gpu[0].BDF || b1 != gpu1[0].BDF || b0.Slot() != b1.Slot() {
		t.Errorf("multi -> %v %v, %v %v; want %s and %s", b0, err0, b1, err1, gpu[0].BDF, gpu1[0].BDF)
	}
	// A device already taken, or held by a domain, is not found twice.
	if _, err := mt.find(nic); !errors.Is(err, ErrNoDevice) {
		t.Errorf("second match of the one e1000e: %v; want ErrNoDevice", err)
	}
	// --map wins, and must be the same model.
	mt = newMatcher(dst)
	mt.mapping[nic.BDF] = gpu[0].BDF
	_, err := mt.find(nic)
	mustFail(t, err, nil, "--map "+nic.BDF+"="+gpu[0].BDF.String(), "10de:1b80")
}

func TestIdentityAmbiguousNamesCandidates(t *testing.T) {
	w := newWorld(t, nil)
	// nic2 is taken away: nic1's BDF now holds nothing, nic2 and nic3
	// are the same model: which one?
	nic := planDevice(t, w.host, w.bdf["nic1"])
	nic.BDF = "0000:7f:00.0"
	mt := newMatcher(w.host, w.bdf["nic1"])
	_, err := mt.find(nic)
	var ae *AmbiguousError
	if !errors.As(err, &ae) || len(ae.Candidates) != 2 {
		t.Fatalf("%v; want an AmbiguousError with nic2 and nic3", err)
	}
	mustFail(t, err, nil, w.bdf["nic2"].String(), w.bdf["nic3"].String(), "--map 0000:7f:00.0=BDF")
	// With the serial number recorded, the model alone does not match
	// a device with another serial number... and nothing else matches.
	mt = newMatcher(w.host, w.bdf["nic1"], w.bdf["nic3"])
	if b, err := mt.find(nic); err != nil || b != w.bdf["nic2"] {
		t.Errorf("one free candidate: %v %v; want %s", b, err, w.bdf["nic2"])
	}
}

func TestIdentityFindsAFreeVFOfTheMatchingPF(t *testing.T) {
	src := targetHost(t, 1)
	dst := targetHost(t, 1)
	pf := find(t, src, 0x8086, 0x1528)[0]
	if len(pf.VFs) != 2 {
		t.Fatalf("PF %s has VFs %v", pf.BDF, pf.VFs)
	}
	vf := planDevice(t, src, pf.VFs[1])
	if vf.Identity.PF == nil || vf.Identity.VFIndex == nil || *vf.Identity.VFIndex != 1 || vf.Identity.PF.Device != 0x1528 {
		t.Fatalf("VF identity %s", vf.Identity)
	}
	dpf := find(t, dst, 0x8086, 0x1528)[0]
	// Same index when free ...
	if b, err := newMatcher(dst).find(vf); err != nil || b != dpf.VFs[1] {
		t.Errorf("VF 1 -> %v %v; want %s", b, err, dpf.VFs[1])
	}
	// ... else another free VF of the PF ...
	vf.BDF = "0000:7f:00.1"
	if b, err := newMatcher(dst, dpf.VFs[1]).find(vf); err != nil || b != dpf.VFs[0] {
		t.Errorf("VF 1 busy -> %v %v; want the free VF %s", b, err, dpf.VFs[0])
	}
	// ... none when every VF is busy ...
	_, err := newMatcher(dst, dpf.VFs...).find(vf)
	mustFail(t, err, ErrNoDevice, "every VF of "+dpf.BDF.String()+" is in use")
	// ... and two matching PFs are ambiguous.
	two := targetHost(t, 2)
	_, err = newMatcher(two).find(vf)
	var ae *AmbiguousError
	if !errors.As(err, &ae) || len(ae.Candidates) != 2 {
		t.Errorf("two PFs: %v; want AmbiguousError naming both", err)
	}
}

// A run killed while libxl waited for the eject leaves the device listed
// by libxl but gone from QEMU: libxl's device_del then fails. The re-run
// finishes with a forced remove; a device never asked to eject is not
// forced.
func TestMigrateDetachFinishesAnInterruptedEject(t *testing.T) {
	w := migrateWorld(t)
	w.svc.concurrent = false // the kill point is the second step of a detach one device at a time
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 2) // 1: the plan; 2: the first "detaching"
	if crashed, _ := run(func() error { _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); return err }); !crashed {
		t.Fatal("no crash")
	}
	first := w.bdf["multi.1"] // highest function first
	qmp := fmt.Errorf("Device 'pci-pt-%02x_%02x.%x' not found: %w", first.Bus, first.Dev, first.Func, xl.ErrFail)
	w.ts.fail["remove "+first.String()] = qmp
	w.ts.fail["remove "+w.bdf["nic1"].String()] = qmp // not interrupted: must not be forced
	m, _ = w.migration(path, 0)
	_, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"})
	mustFail(t, err, nil, "not found", "--force")
	if got := w.where("multi.1", "nic1"); got["multi.1"] != "assignable" || got["nic1"] != "hvm1:06.0" {
		t.Errorf("after the re-run: %v; want multi.1 forced out, nic1 still in hvm1", got)
	}
	p, _ := FilePlan{Path: path}.Load()
	if !strings.Contains(events(p), "finishing libxl's part with a forced remove") {
		t.Errorf("the forced remove is not in the plan:\n%s", events(p))
	}
	w.truthful(path, map[string]string{"in_source": "hvm1"})
}

// A same-domain group goes out and comes back together, in its slots.
func TestMigrateGroupComesBackTogether(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: w.spec("old1", 6), Group: true}); err != nil {
		t.Fatal(err)
	}
	before := w.where("old1", "old2")
	path := filepath.Join(t.TempDir(), "p")
	m, _ := w.migration(path, 0)
	res, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Plan.Devices {
		if d.Group == "" {
			t.Errorf("%s: no group recorded", d.BDF)
		}
	}
	w.migrate(1, 4)
	w.ts.calls = nil
	if _, err := m.Attach(MigrateAttachRequest{Domain: "hvm1"}); err != nil {
		t.Fatal(err)
	}
	if after := w.where("old1", "old2"); !reflect.DeepEqual(after, before) {
		t.Errorf("group at %v after the migration; before %v", after, before)
	}
	adds := 0
	for _, c := range w.ts.calls {
		if strings.HasPrefix(c, "add ") {
			adds++
		}
	}
	if adds != 2 {
		t.Errorf("calls %v; want the two adds of one group attach", w.ts.calls)
	}
}
