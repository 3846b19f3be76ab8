package hotplug

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/xlpt/xlpt/internal/timing"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/rdm"
	"github.com/xlpt/xlpt/xl"
)

// Env is the world a Service decides about, put together once by the
// program: cmd/xlpt from its flags, a test from the simulated kernel.
type Env struct {
	// Sysfs is the host's PCI world: /sys, a recorded host, or a tree
	// whose writes go to the simulated kernel (pcibind.WithWriter).
	Sysfs *pcibind.Sysfs
	// Toolstack is libxl. Nil where there is none: ToolstackErr says why,
	// commands that need libxl fail with it, and binding goes through
	// sysfs when it wraps xl.ErrNoHypervisor. OpenToolstack, when
	// Toolstack is nil, opens it the first time a request needs libxl
	// (xenlight.Lazy's Open): a report from sysfs never pays for it.
	Toolstack     Toolstack
	ToolstackErr  error
	OpenToolstack func() (Toolstack, error)
	// Concurrent says Toolstack takes several PCI adds and removes at
	// once (xenlight.Context does: libxl_ctx is thread-safe): an HVM
	// guest's devices are then added and removed together (parallel.go).
	Concurrent bool
	// DeviceModel reaches HVM guests' QEMU (qmp.DeviceModel); nil: a
	// failed attach's leftover in QEMU is not cleared.
	DeviceModel DeviceModel
	// StateDir keeps the journal, the host lock and pci-move's plans
	// ("": no lock and no journal, as for a service that only reads).
	StateDir string
	// ConfigDir keeps the persisted host setup (devices.conf).
	ConfigDir string
	// Slots are the hot-plug slots of HVM guests (zero: DefaultSlots).
	Slots SlotRange
	// LockTimeout bounds the wait for another run's host lock (0:
	// pcibind.DefaultLockTimeout).
	LockTimeout time.Duration
	Log         Logger // nil: logrus's standard logger
	Clock       Clock  // nil: the system clock
	// Hostname names this host in migration plans ("": the kernel's).
	Hostname string
	// XLConf is xl's global config (/etc/xen/xl.conf), read by migrate
	// check for autoballoon ("": none, xl's defaults).
	XLConf string
}

// Logger is where a Service reports: diagnostics through logrus, at their
// levels, and Say for what the operator must hear while the command runs,
// whatever the log level (a wait for the host lock).
type Logger interface {
	logrus.FieldLogger
	Say(msg string)
}

// Clock tells the time of journal records, plan events and waits.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// stdLogger is logrus's standard logger; what must be said now is a
// warning there.
type stdLogger struct{ logrus.FieldLogger }

func (l stdLogger) Say(msg string) { l.Warn(msg) }

// Service makes the decisions about one host, through the interfaces of
// its Env. It reads the host itself, the first time a request needs it.
type Service struct {
	ts          Toolstack // nil: no libxl here (tsErr says why), or not opened yet (open)
	tsErr       error
	open        func() (Toolstack, error)
	sysfs       *pcibind.Sysfs
	host        *pcibind.Host // what has been read of the host (nil: nothing yet)
	dm          DeviceModel
	concurrent  bool // Env.Concurrent
	slots       SlotRange
	checks      []deviceCheck // nil: the usual ones (RDM, MSI, SR-IOV)
	journal     *Journal
	stateDir    string
	configDir   string
	lockTimeout time.Duration
	logger      Logger
	clock       Clock
	hostname    string
	xlConf      string

	// locked: this service holds the host lock now; hostUnlocked: host
	// was read without it, and is read again once it is taken (a
	// decision about a change rests on what is read under the lock).
	locked, hostUnlocked bool

	// intr is the signal handling while the host lock is held (nil
	// else): see interrupt.go.
	intr *interrupt

	// recordPlaces: during recovery, the devices each domain's open
	// intent records place in it.
	recordPlaces map[uint32][]xl.PciBdf

	// settled are the records of dead runs this run's implicit recovery
	// settled: a retried command finds its own work there, done by the
	// run that died or finished by the recovery (issue 22).
	settled []*Record
}

// deviceCheck is one preflight check of an attach, named for its timing.
type deviceCheck struct {
	name string
	fn   DeviceCheck
}

// New builds the service of one host from its environment: libxl's
// answers remembered for the run (Memo), the preflight checks of an
// attach (reserved device memory, MSI, SR-IOV), the journal and the lock
// in the state directory.
func New(env Env) *Service {
	s := &Service{tsErr: env.ToolstackErr, open: env.OpenToolstack, sysfs: env.Sysfs, dm: env.DeviceModel, concurrent: env.Concurrent, slots: env.Slots,
		stateDir: env.StateDir, configDir: env.ConfigDir, lockTimeout: env.LockTimeout,
		logger: env.Log, clock: env.Clock, hostname: env.Hostname, xlConf: env.XLConf}
	if env.Toolstack != nil {
		s.ts = Memo(env.Toolstack)
	}
	if s.slots == (SlotRange{}) {
		s.slots = DefaultSlots
	}
	if s.logger == nil {
		s.logger = stdLogger{logrus.StandardLogger()}
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.lockTimeout <= 0 {
		s.lockTimeout = pcibind.DefaultLockTimeout
	}
	if s.stateDir != "" {
		s.journal = NewJournal(s.stateDir)
		s.journal.clock = s.clock
		if s.sysfs != nil {
			s.journal.ProcRoot = s.sysfs.ProcRoot()
		}
	}
	return s
}

// deviceChecks are the preflight checks of an attach: reserved device
// memory (Xen's regions and the DMAR table's), MSI, SR-IOV.
func (s *Service) deviceChecks() []deviceCheck {
	if s.checks != nil {
		return s.checks
	}
	var xen rdm.XenSource
	if s.ts != nil {
		xen = s.ts
	}
	return []deviceCheck{
		{"rdm check", RdmCheck(s.finder(RegionSources{}, xen))},
		{"msi check", MsiCheck(s.host)},
		{"sriov check", SRIOVCheck(s.host)},
	}
}

func (s *Service) log() Logger {
	if s.logger == nil {
		return stdLogger{logrus.StandardLogger()}
	}
	return s.logger
}

// toolstack is libxl (opened now, if it was left to be), or why there
// is none.
func (s *Service) toolstack() (Toolstack, error) {
	if s.ts == nil && s.open != nil {
		ts, err := s.open()
		if err != nil {
			s.tsErr = err
		} else {
			s.ts = Memo(ts)
		}
		s.open = nil
	}
	if s.ts == nil {
		if s.tsErr != nil {
			return nil, s.tsErr
		}
		return nil, fmt.Errorf("%w: no toolstack was given", xl.ErrNoHypervisor)
	}
	return s.ts, nil
}

// openToolstack is libxl, opened now if it was left to be; nil when
// there is none.
func (s *Service) openToolstack() Toolstack {
	ts, _ := s.toolstack()
	return ts
}

// needToolstack fails a request that libxl must carry out when there is
// none.
func (s *Service) needToolstack() error {
	_, err := s.toolstack()
	return err
}

// sysfsOnly says that binding goes through sysfs because there is no
// hypervisor here; another reason libxl could not be opened is an error.
func (s *Service) sysfsOnly() (bool, error) {
	if ts, _ := s.toolstack(); ts != nil {
		return false, nil
	}
	if s.tsErr != nil && !errors.Is(s.tsErr, xl.ErrNoHypervisor) {
		return false, s.tsErr
	}
	if s.tsErr != nil {
		s.log().Infof("%v: binding through sysfs only", s.tsErr)
	}
	return true, nil
}

// begin starts a request that libxl carries out: libxl must be there,
// the host lock is taken (and what dead runs left settled), and then,
// under it, the host is read for the device the spec names (one
// function; a slot's functions and a name are read on demand). The
// caller runs the returned unlock when the request ends.
func (s *Service) begin(spec xl.DevicePci) (unlock func(), err error) {
	if err := s.needToolstack(); err != nil {
		return nil, err
	}
	if unlock, err = s.lockAndRecover(); err != nil {
		return nil, err
	}
	if spec.VfuncMask != 0 && !spec.AllFuncs() {
		err = s.readHost(spec.PciBdf)
	} else {
		err = s.readHost()
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// readHost reads what the request's rules need, the first time: the
// named functions, their parents and groups, further ones on demand.
func (s *Service) readHost(want ...xl.PciBdf) error {
	if s.host != nil {
		return nil
	}
	return s.setHost(func() (*pcibind.Host, error) { return s.sysfs.Read(want...) })
}

// scanHost reads every function of the host (a report about all of
// them).
func (s *Service) scanHost() error { return s.setHost(s.sysfs.Scan) }

// freshHost reads the host again, on demand, before an operation runs
// again in recovery: what recovery changed so far is not in the old view.
func (s *Service) freshHost() error {
	return s.setHost(func() (*pcibind.Host, error) { return s.sysfs.Read() })
}

// setHost reads the host with read, as the service's view of it.
func (s *Service) setHost(read func() (*pcibind.Host, error)) error {
	if s.sysfs == nil {
		return hostReadErr(errors.New("no sysfs was given"))
	}
	h, err := timing.Do(s.log(), "host read", read)
	if err != nil {
		return hostReadErr(err)
	}
	s.host, s.hostUnlocked = h, !s.locked
	return nil
}

// hostReadErr says the host could not be read.
func hostReadErr(err error) error { return fmt.Errorf("read the host's PCI devices: %w", err) }

// lock takes the host lock in the state directory, waiting as long as
// the host config says; a wait over a second is said at once, naming
// the holder.
func (s *Service) lock() (func(), error) {
	if s.stateDir == "" {
		return func() {}, nil
	}
	unlock, err := timing.Do(s.log(), "host lock", func() (func(), error) {
		return pcibind.LockWith(s.stateDir, pcibind.LockOptions{Timeout: s.lockTimeout, OnWait: func(holder string) {
			s.log().Say(fmt.Sprintf("waiting up to %v for the host lock, held by %s", s.lockTimeout, holder))
		}})
	})
	if err != nil {
		return nil, err
	}
	s.locked = true
	if s.hostUnlocked {
		s.host, s.hostUnlocked = nil, false // read again, under the lock
	}
	stop := s.catchSignals()
	if s.journal != nil {
		s.journal.interrupt = s.interruption
	}
	return func() {
		if s.journal != nil {
			s.journal.interrupt = nil
		}
		stop()
		s.locked = false
		unlock()
	}, nil
}

// runChecks runs the preflight checks of one device going to dom, each
// timed.
func (s *Service) runChecks(dom Domain, d xl.DevicePci) ([]string, error) {
	var warnings []string
	for _, c := range s.deviceChecks() {
		w, err := timing.Do(s.log(), c.name, func() ([]string, error) { return c.fn(dom, d) })
		warnings = append(warnings, w...)
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// hostname names this host in plans: the kernel's name, "this host"
// when none is set.
func (s *Service) hostName() string {
	if s.hostname != "" {
		return s.hostname
	}
	name, _ := os.Hostname()
	if name == "" || name == "(none)" { // the kernel's default: no name set
		name = "this host"
	}
	return name
}
