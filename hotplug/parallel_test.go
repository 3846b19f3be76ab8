package hotplug

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xlpt/xlpt/xl"
)

// slowQEMU is a QEMU (and guest) whose answer to an HVM add or remove
// comes once want of them wait at once (or after two seconds), and then
// after hold: it shows which operations overlap. It logs when each wait
// starts and ends.
type slowQEMU struct {
	w    *world
	want int
	hold time.Duration

	mu      sync.Mutex
	waiting int
	most    int
	log     []string
	all     chan struct{}
	closed  bool
}

func (w *world) slowQEMU(want int, hold time.Duration) *slowQEMU {
	q := &slowQEMU{w: w, want: want, hold: hold, all: make(chan struct{})}
	w.ts.qemuWait = q.wait
	return q
}

func (q *slowQEMU) wait(op string, b xl.PciBdf) {
	q.mu.Lock()
	q.waiting++
	q.most = max(q.most, q.waiting)
	q.log = append(q.log, "start "+op+" "+q.w.name(b))
	if q.waiting >= q.want && !q.closed {
		q.closed = true
		close(q.all)
	}
	q.mu.Unlock()
	select {
	case <-q.all:
	case <-time.After(2 * time.Second):
	}
	time.Sleep(q.hold)
	q.mu.Lock()
	q.waiting--
	q.log = append(q.log, "end "+op+" "+q.w.name(b))
	q.mu.Unlock()
}

func (q *slowQEMU) report() (int, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.most, strings.Join(q.log, ", ")
}

// name is the world's name of b.
func (w *world) name(b xl.PciBdf) string {
	for n, x := range w.bdf {
		if x == b {
			return n
		}
	}
	return b.String()
}

// threeInHVM puts nic1, nic2 and nic3 in hvm1's guest slots 6, 7 and 8.
func threeInHVM(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, nil)
	for i, n := range []string{"nic1", "nic2", "nic3"} {
		if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: w.spec(n, uint8(6+i)), AnySlot: true}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) detachMany(dom string, names ...string) (DetachResult, error) {
	req := DetachRequest{Domain: dom, Device: w.spec(names[0], 0)}
	for _, n := range names[1:] {
		req.More = append(req.More, w.spec(n, 0))
	}
	return w.svc.Detach(req)
}

// Three devices of an HVM guest, named in one pci-detach, are ejected at
// once: each waits for the guest while the others do.
func TestHVMDetachOfSeveralDevicesRunsAtOnce(t *testing.T) {
	w := threeInHVM(t)
	q := w.slowQEMU(3, 0)
	start := time.Now()
	res, err := w.detachMany("hvm1", "nic1", "nic2", "nic3")
	if err != nil {
		t.Fatal(err)
	}
	if most, log := q.report(); most != 3 {
		t.Errorf("at most %d removes waited for the guest at once; want 3 (%s)", most, log)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: the removes waited for one another", d)
	}
	var got []string
	for _, d := range res.Detached {
		got = append(got, w.name(d.PciBdf))
	}
	if strings.Join(got, " ") != "nic3 nic2 nic1" {
		t.Errorf("detached %v; want nic3 nic2 nic1 (highest first)", got)
	}
	if n := len(w.ts.domains[1].devs); n != 0 {
		t.Errorf("%d devices left in hvm1", n)
	}
	if n := strings.Count(strings.Join(res.Notes, "\n"), "stays on pciback"); n != 3 {
		t.Errorf("%d notes of where the devices are; want 3: %q", n, res.Notes)
	}
}

// A PV guest's devices go one at a time: libxl holds its lock through
// pciback's reconfiguration, and pciback takes one device at a time.
func TestPVDetachOfSeveralDevicesRunsOneAtATime(t *testing.T) {
	w := newWorld(t, nil)
	for _, n := range []string{"nic1", "nic2"} {
		if _, err := w.attach("pv1", n, 0); err != nil {
			t.Fatal(err)
		}
	}
	w.ts.pvHold = 30 * time.Millisecond
	w.ts.mostInFlight = 0
	res, err := w.detachMany("pv1", "nic1", "nic2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Detached) != 2 || w.ts.mostInFlight != 1 {
		t.Errorf("detached %d with %d removes at once; want 2, one at a time", len(res.Detached), w.ts.mostInFlight)
	}
}

// A same-domain group goes into an HVM guest at once.
func TestGroupAttachToHVMRunsAtOnce(t *testing.T) {
	w := newWorld(t, nil)
	q := w.slowQEMU(2, 0)
	res, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: w.spec("old1", 0), Group: true})
	if err != nil {
		t.Fatal(err)
	}
	if most, log := q.report(); most != 2 {
		t.Errorf("at most %d adds at once; want 2 (%s)", most, log)
	}
	if len(res.Attached) != 2 || res.Attached[0].VSlot() == res.Attached[1].VSlot() {
		t.Errorf("attached %+v; want old1 and old2 in two guest slots", res.Attached)
	}
}

// The functions of one guest slot keep their order: on attach function 0
// comes after the others (the guest scans the slot when it arrives), on
// detach highest first.
func TestOneGuestSlotsFunctionsKeepTheirOrder(t *testing.T) {
	w := newWorld(t, nil)
	q := w.slowQEMU(1, 30*time.Millisecond)
	d := w.spec("multi.0", 6)
	d.VfuncMask = xl.FuncAll
	if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: d}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Detach(DetachRequest{Domain: "hvm1", Device: d}); err != nil {
		t.Fatal(err)
	}
	most, log := q.report()
	want := "start add multi.1, end add multi.1, start add multi.0, end add multi.0, " +
		"start remove multi.1, end remove multi.1, start remove multi.0, end remove multi.0"
	if most != 1 || log != want {
		t.Errorf("%d at once:\n got  %s\n want %s", most, log, want)
	}
}

// An attach of several devices at once is all or none: a failure of any
// takes out every device it added, and each failure names its device.
func TestAtOnceAttachFailureUndoesEveryDevice(t *testing.T) {
	for _, fail := range [][]string{{"old2"}, {"old1", "old2"}} {
		t.Run(strings.Join(fail, "+"), func(t *testing.T) {
			w := newWorld(t, nil)
			w.slowQEMU(2, 0)
			var injected []error
			for _, n := range fail {
				e := fmt.Errorf("injected for %s", n)
				injected = append(injected, e)
				w.ts.fail["add "+w.bdf[n].String()] = e
			}
			_, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: w.spec("old1", 0), Group: true})
			for i, n := range fail {
				mustFail(t, err, injected[i], "attach "+w.bdf[n].String()+" to hvm1")
			}
			if n := len(w.ts.domains[1].devs); n != 0 {
				t.Errorf("%d devices left in hvm1 after the failed attach", n)
			}
			if n := len(w.ts.staleInDM[1]); n != 0 {
				t.Errorf("QEMU keeps %v", w.ts.staleInDM[1])
			}
		})
	}
}

// A detach of several devices at once detaches what it can, and names
// each device that stays, with its cause.
func TestAtOnceDetachFailureNamesEachDevice(t *testing.T) {
	w := threeInHVM(t)
	w.slowQEMU(3, 0)
	w.ts.fail["remove "+w.bdf["nic2"].String()] = fmt.Errorf("timed out waiting for DM to remove: %w", xl.ErrTimedOut)
	w.ts.fail["remove "+w.bdf["nic3"].String()] = errors.New("QMP connection lost")
	res, err := w.detachMany("hvm1", "nic1", "nic2", "nic3")
	mustFail(t, err, ErrDetachTimeout, w.bdf["nic2"].String()+" within libxl's timeout", "pci-detach -f hvm1 "+w.bdf["nic2"].String(),
		"detach "+w.bdf["nic3"].String()+" from hvm1: QMP connection lost")
	if len(res.Detached) != 1 || res.Detached[0].PciBdf != w.bdf["nic1"] {
		t.Errorf("detached %+v; want nic1 alone", res.Detached)
	}
	if got := w.slots(1); len(got) != 2 || got[w.bdf["nic2"]] != 7 || got[w.bdf["nic3"]] != 8 {
		t.Errorf("hvm1 holds %v; want nic2 and nic3 still in 7 and 8", got)
	}
}

// Of several specs, one that names nothing attached is left out with a
// note (run again after a part of it finished, the command finishes the
// rest); when none names anything attached, the command is refused.
func TestDetachOfSeveralLeavesOutWhatIsNotAttached(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.attach("hvm1", "nic1", 6); err != nil {
		t.Fatal(err)
	}
	res, err := w.detachMany("hvm1", "nic2", "nic1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Detached) != 1 || res.Detached[0].PciBdf != w.bdf["nic1"] || len(w.ts.domains[1].devs) != 0 {
		t.Errorf("detached %+v; want nic1", res.Detached)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "nothing to do for it: device is not attached to this domain: "+w.bdf["nic2"].String()+" is not attached to hvm1") {
		t.Errorf("notes %q; want nic2 named as not attached", res.Notes)
	}
	w.ts.calls = nil
	_, err = w.detachMany("hvm1", "nic2", "nic1")
	mustFail(t, err, ErrNotAttached, w.bdf["nic2"].String()+" is not attached to hvm1")
	if len(w.ts.calls) != 0 {
		t.Errorf("calls %v; want none", w.ts.calls)
	}
}

// migrate detach takes an HVM guest's guest slots out at once (a slot's
// functions highest first), and rollback puts them back at once.
func TestMigrateDetachAndRollbackRunAtOnce(t *testing.T) {
	w := migrateWorld(t) // nic1 in slot 6, multi's two functions in slot 7
	path := filepath.Join(t.TempDir(), "p")
	q := w.slowQEMU(2, 0)
	m, _ := w.migration(path, 0)
	if _, err := m.Detach(MigrateDetachRequest{Domain: "hvm1"}); err != nil {
		t.Fatal(err)
	}
	most, log := q.report()
	if most != 2 || strings.Index(log, "end remove multi.1") > strings.Index(log, "start remove multi.0") {
		t.Errorf("%d removes at once (%s); want 2, multi.1 out before multi.0", most, log)
	}
	if n := len(w.ts.domains[1].devs); n != 0 {
		t.Fatalf("%d devices left in hvm1", n)
	}
	q = w.slowQEMU(2, 0)
	if _, err := m.Rollback("hvm1"); err != nil {
		t.Fatal(err)
	}
	if most, log := q.report(); most < 2 {
		t.Errorf("at most %d adds at once (%s); want nic1's beside multi's", most, log)
	}
	if got := w.where("nic1", "multi.0", "multi.1"); got["nic1"] != "hvm1:06.0" || got["multi.0"] != "hvm1:07.0" || got["multi.1"] != "hvm1:07.1" {
		t.Errorf("after rollback: %v; want the old slots", got)
	}
	w.truthful(path, map[string]string{"in_source": "hvm1"})
}

// After SIGINT every chain stops before its next device: a guest slot's
// function 0 is left where it is, and the command says it was stopped.
func TestInterruptStopsEveryChainBeforeItsNextDevice(t *testing.T) {
	w := newWorld(t, nil)
	if _, err := w.attach("hvm1", "nic1", 6); err != nil {
		t.Fatal(err)
	}
	d := w.spec("multi.0", 7)
	d.VfuncMask = xl.FuncAll
	if _, err := w.svc.Attach(AttachRequest{Domain: "hvm1", Device: d}); err != nil {
		t.Fatal(err)
	}
	w.svc.intr = &interrupt{}
	w.svc.intr.got.Store(os.Interrupt)
	res, err := w.svc.Detach(DetachRequest{Domain: "hvm1", Device: w.spec("nic1", 0), More: []xl.DevicePci{d}})
	mustFail(t, err, ErrInterrupted, "stopped at its next step")
	if got := w.slots(1); len(got) != 1 || got[w.bdf["multi.0"]] != 7 {
		t.Errorf("hvm1 holds %v; want multi.0 alone (each chain's first device out, then stopped)", got)
	}
	if len(res.Detached) != 2 {
		t.Errorf("detached %+v; want multi.1 and nic1", res.Detached)
	}
}
