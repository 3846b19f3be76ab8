package hotplug

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xlpt/xlpt/xl"
)

// Toolstack is libxl as hotplug asks it: xl.Toolstack, the one list of
// the calls xlpt makes. *xenlight.Context satisfies it.
type Toolstack = xl.Toolstack

// DeviceModel removes what a failed HVM attach left in the device model:
// libxl 4.17 leaves the QEMU device behind, and a retry then fails with
// "Duplicate device ID 'pci-pt-...'".
type DeviceModel interface {
	RemoveStale(domid uint32, b xl.PciBdf) error
	// Devices lists the host devices passed through to domid's QEMU
	// (none for a domain without a device model).
	Devices(domid uint32) ([]xl.PciBdf, error)
}

// DeviceCheck is a preflight check of one device going to a domain (RDM,
// MSI). It returns warnings, or an error to refuse.
type DeviceCheck func(dom Domain, dev xl.DevicePci) (warnings []string, err error)

// Domain is what the decisions need to know of the target domain.
type Domain struct {
	Domid uint32
	Name  string
	Info  xl.DomainInfo
	// Config is the domain's stored configuration as given; a domain the
	// service resolved reads it from libxl only when a rule needs it
	// (LoadConfig).
	Config xl.DomainConfig
	lazy   *lazyConfig
}

// lazyConfig reads a domain's configuration once, on first use.
type lazyConfig struct {
	once sync.Once
	load func() (xl.DomainConfig, error)
	cfg  xl.DomainConfig
	err  error
}

// LoadConfig is the domain's stored configuration: Config as given, or,
// for a domain the service resolved, libxl's, read the first time a rule
// asks (libxl_retrieve_domain_configuration cost 23-38 ms on the testbed,
// and most attaches need nothing of it).
func (d Domain) LoadConfig() (xl.DomainConfig, error) {
	if d.lazy == nil {
		return d.Config, nil
	}
	d.lazy.once.Do(func() { d.lazy.cfg, d.lazy.err = d.lazy.load() })
	return d.lazy.cfg, d.lazy.err
}

func (d Domain) String() string {
	if d.Name != "" {
		return d.Name
	}
	return fmt.Sprintf("domain %d", d.Domid)
}

func (d Domain) IsHVM() bool { return d.Info.Type == xl.DomainTypeHVM }

// Sentinels for refusals callers branch on.
var (
	// ErrBadRequest: the request itself cannot be carried out as
	// written; nothing was read or changed (xlpt exits 2).
	ErrBadRequest        = errors.New("bad request")
	ErrNoIOMMU           = errors.New("the IOMMU is off")
	ErrDomainState       = errors.New("domain cannot take devices now")
	ErrNoPassthrough     = errors.New("domain was created without PCI passthrough")
	ErrPoD               = errors.New("domain uses populate-on-demand memory")
	ErrNotAssignable     = errors.New("device is not assignable")
	ErrAssignedElsewhere = errors.New("device is assigned to another domain")
	ErrNoDevice          = errors.New("no such PCI device on this host")
	ErrNotAttached       = errors.New("device is not attached to this domain")
	ErrDetachTimeout     = errors.New("the guest did not release the device")
	ErrLogDirty          = errors.New("domain in log-dirty mode: Xen refuses its devices")
)

// resolve finds the domain and reads what the checks need.
func (s *Service) resolve(q string) (Domain, error) {
	domid, err := s.ts.DomainQualifierToID(q)
	if err != nil {
		return Domain{}, fmt.Errorf("%q is not a domain (give a name or a domid from `xl list`): %w", q, err)
	}
	info, err := s.ts.DomainInfo(domid)
	if err != nil {
		return Domain{}, fmt.Errorf("domain %s: %w", q, err)
	}
	return Domain{Domid: domid, Name: info.Name, Info: info}, nil
}

// lockAndRecover takes the host lock and settles the intent records runs
// that died left behind: every change starts here. Leftovers no record
// explains (a killed xl) are for `xlpt recover`.
func (s *Service) lockAndRecover() (func(), error) {
	unlock, err := s.lock()
	if err != nil || s.journal == nil {
		return unlock, err
	}
	rep, err := s.recoverLocked(false, false)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("recover what an earlier run left: %w (see `xlpt recover --dry-run`)", err)
	}
	s.settled = rep.settled
	s.log().Debugf("host lock taken; %d record(s) of dead runs settled", len(rep.Records))
	for _, f := range rep.Repairs {
		if f.Nothing() {
			continue
		}
		what := "recovered"
		if f.Advice() {
			what = "found"
		}
		s.log().WithField("device", f.Device).Warnf("%s: %s: %s", what, f.Problem, f.Action)
	}
	return unlock, nil
}

// iommuFix is how to find and mend a Xen without I/O virtualisation.
const iommuFix = "(check `xl dmesg | grep -i 'I/O virtualisation'`; enable VT-d/AMD-Vi in the firmware and boot Xen with iommu=1)"

// preflightDomain refuses domains that cannot take a device, from what is
// at hand: Xen's physinfo and the domain's info. What needs the domain's
// stored configuration (passthrough, populate-on-demand) is asked only
// when libxl's add fails, to give the true cause (explainAttach), or
// before a change that is costly to undo (refuseByConfig: pci-move). The
// configuration is read when a rule first needs it (Domain.LoadConfig).
func (s *Service) preflightDomain(dom *Domain) error {
	phys, err := s.ts.PhysInfo()
	if err != nil {
		return fmt.Errorf("read host capabilities: %w", err)
	}
	if !phys.CapHVMDirectIO {
		return fmt.Errorf("%w: Xen reports no hvm_directio, so no device can be passed through %s", ErrNoIOMMU, iommuFix)
	}
	switch st := dom.Info.State; {
	case dom.Domid == 0:
		return fmt.Errorf("%w: dom0 owns host devices directly; pass a guest", ErrDomainState)
	case st.Has(xl.StateDying):
		return fmt.Errorf("%w: %s is being destroyed", ErrDomainState, dom)
	case st.Has(xl.StateShutdown):
		return fmt.Errorf("%w: %s is shut down (%s)", ErrDomainState, dom, dom.Info.ShutdownReason)
	}
	if dom.lazy == nil {
		ts, domid := s.ts, dom.Domid
		dom.lazy = &lazyConfig{load: func() (xl.DomainConfig, error) { return ts.DomainConfig(domid) }}
	}
	return nil
}

// refuseByConfig refuses a domain whose stored configuration keeps it
// from taking devices, with the true cause where libxl would give a
// misleading one.
func (s *Service) refuseByConfig(dom *Domain) error {
	cfg, err := dom.LoadConfig()
	if err != nil {
		return fmt.Errorf("read the configuration of %s: %w", dom, err)
	}
	dom.Config = cfg
	if cfg.Passthrough == xl.PassthroughDisabled {
		return fmt.Errorf("%w: %s has passthrough=\"disabled\" (it had no pci devices when it was created), "+
			"so Xen gave it no IOMMU context and libxl would only say \"cannot be assigned - no IOMMU?\"; "+
			"add passthrough=\"enabled\" to its xl.cfg and recreate it", ErrNoPassthrough, dom)
	}
	if cfg.PoD() {
		return fmt.Errorf("%w: %s is HVM with memory %d MiB below maxmem %d MiB, and Xen refuses to assign devices "+
			"while populate-on-demand is active; set memory = maxmem in its xl.cfg and recreate it",
			ErrPoD, dom, cfg.TargetMemKB/1024, cfg.MaxMemKB/1024)
	}
	return nil
}

// explainAttach gives an attach that failed in libxl its true cause: a
// domain whose configuration keeps it from taking devices is refused as
// refuseByConfig says (libxl and Xen only say "cannot be assigned - no
// IOMMU?" or refuse the assignment); any other failure is err itself.
func (s *Service) explainAttach(dom *Domain, err error) error {
	if err == nil || errors.Is(err, ErrInterrupted) {
		return err
	}
	if why := s.refuseByConfig(dom); errors.Is(why, ErrNoPassthrough) || errors.Is(why, ErrPoD) {
		s.log().WithError(err).Info("libxl's add failed; the domain's configuration says why")
		return why
	}
	if strings.Contains(err.Error(), "xc_assign_device failed: invalid cross-device link") {
		return logDirty(dom, err)
	}
	return err
}

// logDirty explains Xen's EXDEV from the assignment: the domain is in
// log-dirty mode (arch_iommu_use_permitted; PoD, the other common cause,
// is explained before). A live migration or save turns it on, and one
// whose stream broke leaves it on: libxl runs its save helper with
// SIGPIPE's default action, which kills it before libxc's cleanup turns
// log-dirty off. A checkpoint save that completes turns it off and lets
// the guest run on (seen on the two-host testbed: B's receiver killed).
func logDirty(dom *Domain, err error) error {
	return fmt.Errorf("%w: %s is in log-dirty mode, left on by a live migration or save that is running or broke off "+
		"(libxl's save helper dies of SIGPIPE when the stream's reader dies, before it turns log-dirty off); "+
		"if none is running, turn it off with a checkpoint that keeps the guest running: `xl save -c %s /dev/null` "+
		"(the guest pauses while its memory is written), then run this again (%v)", ErrLogDirty, dom, dom, err)
}

// List returns the devices a domain holds.
func (s *Service) List(q string) (Domain, []xl.DevicePci, error) {
	if err := s.needToolstack(); err != nil {
		return Domain{}, nil, err
	}
	return s.domainDevices(q)
}

// domainDevices resolves q and lists the devices libxl has in it (the
// toolstack already open); the domain is returned whenever it resolved.
func (s *Service) domainDevices(q string) (Domain, []xl.DevicePci, error) {
	dom, err := s.resolve(q)
	if err != nil {
		return dom, nil, err
	}
	devs, err := s.ts.PciList(dom.Domid)
	if err != nil {
		return dom, nil, fmt.Errorf("list PCI devices of %s: %w", dom, err)
	}
	return dom, devs, nil
}

// badRequest is a request refused as written; it matches ErrBadRequest
// and says only what is wrong.
type badRequest struct{ msg string }

func (e *badRequest) Error() string        { return e.msg }
func (e *badRequest) Is(target error) bool { return target == ErrBadRequest }

func badRequestf(format string, a ...any) error { return &badRequest{fmt.Sprintf(format, a...)} }
