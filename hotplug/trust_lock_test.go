package hotplug

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Issue 25: every change of the host under the lock for its whole
// length, its preflight included. These tests let another run change
// the host while one waits for the lock (the waiting run's "waiting for
// the host lock" is the moment: the other run makes its change and lets
// the lock go), then check that the waiting run decided on what it found
// under the lock.

// sayLogger discards diagnostics and hands what must be said to say.
type sayLogger struct {
	stdLogger
	say func(msg string)
}

func (l sayLogger) Say(msg string) { l.say(msg) }

func quietLogger(say func(string)) Logger {
	return sayLogger{stdLogger{&logrus.Logger{Out: io.Discard, Formatter: &logrus.TextFormatter{}, Level: logrus.WarnLevel}}, say}
}

// meanwhile holds the host lock of state as another run would, and
// returns a logger for the waiting service: when it says it waits, meanwhile
// runs other (the other run's change) and releases the lock.
func meanwhile(t *testing.T, state string, other func()) Logger {
	t.Helper()
	unlock, err := pcibind.Lock(state)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			unlock()
		}
	})
	return quietLogger(func(msg string) {
		if done || !strings.Contains(msg, "waiting") {
			return
		}
		done = true
		other()
		unlock()
	})
}

// The SR-IOV race: sriov disable checks the VFs' owners, but an attach
// that took the lock while it waited put VF 0 into a guest; the VFs must
// not go from under it.
func TestSRIOVChangeDecidesOnWhatItFindsUnderTheLock(t *testing.T) {
	w := newSRIOVWorld(t)
	res, err := w.svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 2})
	if err != nil {
		t.Fatal(err)
	}
	vf0 := res.Change.VFs[0]
	w.ts.addDomain(5, "web01", xl.DomainTypeHVM)
	state := t.TempDir()
	svc := &Service{ts: w.ts, sysfs: w.sys, slots: DefaultSlots, stateDir: state, journal: NewJournal(state), lockTimeout: 30 * time.Second}
	svc.logger = meanwhile(t, state, func() {
		// The other run: pci-attach --assign web01 VF0.
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = vf0, 1
		if err := w.ts.PciAssignableAdd(d, true); err != nil {
			t.Error(err)
		}
		if err := w.ts.PciAdd(5, d); err != nil {
			t.Error(err)
		}
	})
	before := len(numvfsWrites(w.k))
	_, err = svc.SetVFs(SRIOVRequest{PF: w.pf, NumVFs: 0})
	mustFail(t, err, ErrVFsAssigned, vf0.String(), "web01")
	if got := numvfsWrites(w.k); len(got) != before {
		t.Errorf("sriov_numvfs written under a guest's VF: %v", got[before:])
	}
}

// Two --persist adds: the second waits for the first, which records its
// device meanwhile; both lines are in devices.conf afterwards.
func TestConcurrentPersistAddsKeepBothLines(t *testing.T) {
	w := newBindWorld(t)
	state, conf := t.TempDir(), t.TempDir()
	other := &Service{host: w.host, sysfs: w.sys, slots: DefaultSlots, configDir: conf}
	svc := &Service{sysfs: w.sys, slots: DefaultSlots, stateDir: state, journal: NewJournal(state), configDir: conf, lockTimeout: 30 * time.Second}
	svc.logger = meanwhile(t, state, func() {
		if _, err := other.AssignableAdd(AssignableRequest{Device: w.old1, Group: true, Driver: pcibind.DriverPciStub, Persist: true}); err != nil {
			t.Error(err)
		}
	})
	if _, err := svc.AssignableAdd(AssignableRequest{Device: w.free, Driver: pcibind.DriverPciStub, Persist: true, Name: "free"}); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPersist(conf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[xl.PciBdf]bool{}
	for _, e := range p.Entries {
		got[e.BDF] = true
	}
	for _, b := range []xl.PciBdf{w.old1, w.old2, w.free} {
		if !got[b] {
			t.Errorf("%s is not in %s:\n%s", b, filepath.Join(conf, PersistFileName), p.Bytes())
		}
	}
}
