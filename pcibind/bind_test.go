package pcibind_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

type bfix struct {
	tree  *pcitest.Tree
	k     *pcitest.Kernel
	s     *pcibind.Sysfs
	state string
}

func newBfix(t *testing.T) *bfix {
	t.Helper()
	tr, err := pcitest.Generate(pcitest.TempDir(t), pcitest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	k := pcitest.NewKernel(t, tr.Root)
	state := t.TempDir()
	return &bfix{tree: tr, k: k, state: state,
		s: pcibind.New(tr.Root, pcibind.WithWriter(k), pcibind.WithStateDir(state))}
}

// snapshot is what "nothing lost" compares: every device's driver and
// override, pciback's slots, pci-stub's dynamic IDs.
type snapshot struct {
	drivers   map[xl.PciBdf]string
	overrides map[xl.PciBdf]string
	slots     []string
	dynids    []string
}

func (f *bfix) snap() snapshot {
	s := snapshot{drivers: map[xl.PciBdf]string{}, overrides: map[xl.PciBdf]string{},
		slots: f.k.Slots(), dynids: f.k.DynIDs(pcibind.DriverPciStub)}
	for _, fn := range f.tree.Funcs {
		s.drivers[fn.BDF] = f.k.Driver(fn.BDF)
		s.overrides[fn.BDF] = f.k.Override(fn.BDF)
	}
	return s
}

func (f *bfix) dev(t *testing.T, driver string) xl.PciBdf {
	t.Helper()
	for _, fn := range f.tree.Funcs {
		if fn.Driver == driver {
			return fn.BDF
		}
	}
	t.Fatalf("no %s device in Sample", driver)
	return xl.PciBdf{}
}

var methods = []struct {
	target string
	m      pcibind.Method
}{
	{pcibind.DriverPciback, pcibind.MethodSlot},
	{pcibind.DriverPciback, pcibind.MethodOverride},
	{pcibind.DriverPciStub, pcibind.MethodNewID},
	{pcibind.DriverPciStub, pcibind.MethodOverride},
}

func TestHideAndGiveBack(t *testing.T) {
	for _, mm := range methods {
		t.Run(mm.target+"/"+string(mm.m), func(t *testing.T) {
			f := newBfix(t)
			b := f.dev(t, "e1000e")
			before := f.snap()
			if err := f.s.Hide(b, mm.target, mm.m); err != nil {
				t.Fatal(err)
			}
			if d := f.k.Driver(b); d != mm.target {
				t.Fatalf("hidden device on %q", d)
			}
			rec, err := f.s.LoadRecord(b)
			if err != nil || rec.Driver != "e1000e" {
				t.Fatalf("record %+v, %v", rec, err)
			}
			if mm.m == pcibind.MethodNewID && len(f.k.DynIDs(mm.target)) != 0 {
				t.Errorf("new_id left behind: %v", f.k.DynIDs(mm.target))
			}
			// Again: idempotent, no duplicate slot, record kept.
			n := len(f.k.Writes)
			if err := f.s.Hide(b, mm.target, mm.m); err != nil {
				t.Fatal(err)
			}
			if len(f.k.Writes) != n {
				t.Errorf("second hide wrote %v", f.k.Writes[n:])
			}
			// A later process gives it back from the record alone.
			s2 := pcibind.New(f.tree.Root, pcibind.WithWriter(f.k), pcibind.WithStateDir(f.state))
			if err := s2.GiveBack(b); err != nil {
				t.Fatal(err)
			}
			if after := f.snap(); !reflect.DeepEqual(after, before) {
				t.Errorf("after give-back:\n%+v\nwant\n%+v", after, before)
			}
			if _, err := f.s.LoadRecord(b); !errors.Is(err, pcibind.ErrNoRecord) {
				t.Errorf("record still there: %v", err)
			}
			if err := f.s.GiveBack(b); !errors.Is(err, pcibind.ErrNoRecord) {
				t.Errorf("second give-back: %v", err)
			}
		})
	}
}

func TestHideSlotAlreadyListed(t *testing.T) {
	f := newBfix(t)
	b := f.dev(t, "e1000e")
	path := filepath.Join(f.tree.Root, "bus/pci/drivers/pciback/slots")
	if err := os.WriteFile(path, []byte(b.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Hide(b, pcibind.DriverPciback, pcibind.MethodSlot); err != nil {
		t.Fatal(err)
	}
	for _, w := range f.k.Writes {
		if strings.HasSuffix(w.Attr, "new_slot") {
			t.Errorf("new_slot written for a listed BDF")
		}
	}
	if s := f.k.Slots(); len(s) != 1 {
		t.Errorf("slots %v", s)
	}
}

func TestHideErrors(t *testing.T) {
	f := newBfix(t)
	b := f.dev(t, "e1000e")
	if err := f.k.UnloadDriver("pciback"); err != nil {
		t.Fatal(err)
	}
	before := f.snap()
	err := f.s.Hide(b, pcibind.DriverPciback, pcibind.MethodSlot)
	if !errors.Is(err, pcibind.ErrDriverNotLoaded) || !strings.Contains(err.Error(), "modprobe xen-pciback") {
		t.Errorf("pciback missing: %v", err)
	}
	err = f.s.Hide(xl.PciBdf{Bus: 0x77}, pcibind.DriverPciStub, "")
	if !errors.Is(err, pcibind.ErrDeviceGone) {
		t.Errorf("absent device: %v", err)
	}
	// A refused write names the value and errno, and is undone.
	f.k.Fail(pcibind.DriverPciStub, "bind", pcitest.Fault{Err: syscall.EINVAL, Sticky: true})
	err = f.s.Hide(b, pcibind.DriverPciStub, pcibind.MethodNewID)
	if err == nil || !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), fmt.Sprintf("%q", b.String())) {
		t.Errorf("refused bind: %v", err)
	}
	after := f.snap()
	if !reflect.DeepEqual(after, before) {
		t.Errorf("refused hide changed the host:\n%+v\nwant\n%+v", after, before)
	}
	if _, err := f.s.LoadRecord(b); !errors.Is(err, pcibind.ErrNoRecord) {
		t.Errorf("failed hide left a record: %v", err)
	}
}

// TestNothingLost injects a fault at every write of each transaction,
// both as a refused write and as one that took effect and still
// reported an error, and checks that afterwards the host is exactly as
// before (or, when the transaction reports success, as after a clean
// run).
func TestNothingLost(t *testing.T) {
	type txn struct {
		name  string
		setup func(f *bfix, b xl.PciBdf) error // before faults
		run   func(f *bfix, b xl.PciBdf) error
	}
	var txns []txn
	for _, mm := range methods {
		mm := mm
		txns = append(txns, txn{
			name: "hide/" + mm.target + "/" + string(mm.m),
			run:  func(f *bfix, b xl.PciBdf) error { return f.s.Hide(b, mm.target, mm.m) },
		}, txn{
			name:  "giveback/" + mm.target + "/" + string(mm.m),
			setup: func(f *bfix, b xl.PciBdf) error { return f.s.Hide(b, mm.target, mm.m) },
			run:   func(f *bfix, b xl.PciBdf) error { return f.s.GiveBack(b) },
		})
	}
	steps := 0
	for _, tx := range txns {
		for _, driver := range []string{"e1000e", "snd_ens1370"} {
			// A clean run gives the step count and the success state.
			f := newBfix(t)
			b := f.dev(t, driver)
			if tx.setup != nil {
				if err := tx.setup(f, b); err != nil {
					t.Fatal(err)
				}
			}
			start := len(f.k.Writes)
			if err := tx.run(f, b); err != nil {
				t.Fatalf("%s clean run: %v", tx.name, err)
			}
			n := len(f.k.Writes) - start
			good := f.snap()
			if n == 0 {
				t.Fatalf("%s: no writes to fault", tx.name)
			}
			for i := 0; i < n; i++ {
				for _, applied := range []bool{false, true} {
					f := newBfix(t)
					b := f.dev(t, driver)
					if tx.setup != nil {
						if err := tx.setup(f, b); err != nil {
							t.Fatal(err)
						}
					}
					before := f.snap()
					f.k.FailNth(len(f.k.Writes)+i, pcitest.Fault{Err: syscall.EIO, Applied: applied})
					err := tx.run(f, b)
					steps++
					after := f.snap()
					switch {
					case err == nil && reflect.DeepEqual(after, good):
					case err != nil && reflect.DeepEqual(after, before):
					default:
						t.Errorf("%s %s fault at write %d/%d (applied=%v, %v): err=%v\nhost now %+v\nbefore    %+v\nclean run %+v",
							tx.name, driver, i, n, applied, f.k.Writes[len(f.k.Writes)-1], err, after, before, good)
					}
				}
			}
		}
	}
	t.Logf("%d faulted runs", steps)
}

// pci-stub without a method given uses driver_override where the kernel
// has it, as driverctl does: exactly one device bound, no dynamic ID for
// identical devices to fall into; on a kernel without driver_override,
// new_id and remove_id (issue 22).
func TestPciStubPrefersDriverOverride(t *testing.T) {
	f := newBfix(t)
	b := f.dev(t, "e1000e")
	before := f.snap()
	n := len(f.k.Writes)
	if err := f.s.Hide(b, pcibind.DriverPciStub, ""); err != nil {
		t.Fatal(err)
	}
	if d, o := f.k.Driver(b), f.k.Override(b); d != pcibind.DriverPciStub || o != pcibind.DriverPciStub {
		t.Fatalf("on %q with driver_override %q; want pci-stub, by driver_override", d, o)
	}
	for _, w := range f.k.Writes[n:] {
		if strings.Contains(w.Attr, "new_id") || strings.Contains(w.Attr, "remove_id") {
			t.Errorf("wrote %s: new_id is for kernels without driver_override", w.Attr)
		}
	}
	if rec, err := f.s.LoadRecord(b); err != nil || rec.Method != pcibind.MethodOverride {
		t.Errorf("record %+v, %v; want method override", rec, err)
	}
	if err := f.s.GiveBack(b); err != nil {
		t.Fatal(err)
	}
	if after := f.snap(); !reflect.DeepEqual(after, before) {
		t.Errorf("after give-back:\n%+v\nwant\n%+v", after, before)
	}

	// A kernel without driver_override (before 3.16).
	if err := os.Remove(filepath.Join(f.tree.Root, "bus/pci/devices", b.String(), "driver_override")); err != nil {
		t.Fatal(err)
	}
	n = len(f.k.Writes)
	if err := f.s.Hide(b, pcibind.DriverPciStub, ""); err != nil {
		t.Fatal(err)
	}
	newID := false
	for _, w := range f.k.Writes[n:] {
		newID = newID || strings.Contains(w.Attr, "new_id")
	}
	if d := f.k.Driver(b); d != pcibind.DriverPciStub || !newID || len(f.k.DynIDs(pcibind.DriverPciStub)) != 0 {
		t.Errorf("without driver_override: on %q, new_id written %v, IDs left %v", d, newID, f.k.DynIDs(pcibind.DriverPciStub))
	}
}

// killer is the simulated kernel with a process that dies (panics)
// before the write whose path ends in at.
type killer struct {
	k  *pcitest.Kernel
	at string
}

func (w killer) WriteAttr(p, v string) error {
	if strings.HasSuffix(p, w.at) {
		panic("killed before " + p)
	}
	return w.k.WriteAttr(p, v)
}

// hideKilled runs a hide that dies before the write to at.
func hideKilled(t *testing.T, f *bfix, b xl.PciBdf, m pcibind.Method, at string) {
	t.Helper()
	s := pcibind.New(f.tree.Root, pcibind.WithWriter(killer{f.k, at}), pcibind.WithStateDir(f.state))
	defer func() {
		if recover() == nil {
			t.Fatalf("the hide did not reach %s", at)
		}
	}()
	s.Hide(b, pcibind.DriverPciStub, m)
}

// A pci-stub hide by new_id that died leaves its dynamic ID named in
// xlpt's record (AddedID); the next hide takes it out, whether it adds
// the ID again (new_id: a kernel without driver_override, or the method
// asked for) or binds by driver_override, which adds none. The give-back
// then leaves the host as it was.
func TestLeftoverDynamicIDTakenOut(t *testing.T) {
	for _, c := range []struct {
		name       string
		noOverride bool
		first      pcibind.Method
	}{
		{"new_id then new_id (no driver_override)", true, ""},
		{"new_id then driver_override", false, pcibind.MethodNewID},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newBfix(t)
			b := f.dev(t, "e1000e")
			if c.noOverride {
				if err := os.Remove(filepath.Join(f.tree.Root, "bus/pci/devices", b.String(), "driver_override")); err != nil {
					t.Fatal(err)
				}
			}
			before := f.snap()
			hideKilled(t, f, b, c.first, "/unbind")
			rec, err := f.s.LoadRecord(b)
			if err != nil || rec.AddedID == "" || len(f.k.DynIDs(pcibind.DriverPciStub)) != 1 {
				t.Fatalf("after the kill: record %+v (%v), pci-stub's IDs %v; want the added ID in both", rec, err, f.k.DynIDs(pcibind.DriverPciStub))
			}
			if err := f.s.Hide(b, pcibind.DriverPciStub, ""); err != nil {
				t.Fatal(err)
			}
			rec, err = f.s.LoadRecord(b)
			if d := f.k.Driver(b); d != pcibind.DriverPciStub || len(f.k.DynIDs(pcibind.DriverPciStub)) != 0 || err != nil || rec.AddedID != "" || rec.Driver != "e1000e" {
				t.Errorf("after the retry: on %q, pci-stub's IDs %v, record %+v (%v); want pci-stub, no ID, the original e1000e",
					d, f.k.DynIDs(pcibind.DriverPciStub), rec, err)
			}
			if err := f.s.GiveBack(b); err != nil {
				t.Fatal(err)
			}
			if after := f.snap(); !reflect.DeepEqual(after, before) {
				t.Errorf("after give-back:\n%+v\nwant\n%+v", after, before)
			}
		})
	}
}
