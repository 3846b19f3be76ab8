package xl

import (
	"fmt"
	"strings"
	"time"
)

// DomainType mirrors libxl_domain_type.
type DomainType int

const (
	DomainTypeInvalid DomainType = -1
	DomainTypeHVM     DomainType = 1
	DomainTypePV      DomainType = 2
	DomainTypePVH     DomainType = 3
)

func (t DomainType) String() string {
	switch t {
	case DomainTypeHVM:
		return "hvm"
	case DomainTypePV:
		return "pv"
	case DomainTypePVH:
		return "pvh"
	case DomainTypeInvalid:
		return "invalid"
	}
	return fmt.Sprintf("DomainType(%d)", int(t))
}

func (t DomainType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// DomainState is the set of state flags libxl_dominfo reports.
type DomainState uint8

const (
	StateRunning DomainState = 1 << iota // on a CPU now
	StateBlocked                         // waiting for an event
	StatePaused
	StateShutdown // see DomainInfo.ShutdownReason
	StateDying    // being destroyed
)

var stateNames = []struct {
	s    DomainState
	name string
}{
	{StateRunning, "running"}, {StateBlocked, "blocked"}, {StatePaused, "paused"},
	{StateShutdown, "shutdown"}, {StateDying, "dying"},
}

// Has reports whether every flag of f is set.
func (s DomainState) Has(f DomainState) bool { return s&f == f }

// String joins the flag names with commas; a domain with none is runnable
// (waiting for a CPU).
func (s DomainState) String() string {
	var names []string
	for _, n := range stateNames {
		if s.Has(n.s) {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "runnable"
	}
	return strings.Join(names, ",")
}

func (s DomainState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ShutdownReason mirrors libxl_shutdown_reason.
type ShutdownReason int

const (
	ShutdownUnknown   ShutdownReason = -1
	ShutdownPoweroff  ShutdownReason = 0
	ShutdownReboot    ShutdownReason = 1
	ShutdownSuspend   ShutdownReason = 2
	ShutdownCrash     ShutdownReason = 3
	ShutdownWatchdog  ShutdownReason = 4
	ShutdownSoftReset ShutdownReason = 5
)

func (r ShutdownReason) String() string {
	switch r {
	case ShutdownUnknown:
		return "unknown"
	case ShutdownPoweroff:
		return "poweroff"
	case ShutdownReboot:
		return "reboot"
	case ShutdownSuspend:
		return "suspend"
	case ShutdownCrash:
		return "crash"
	case ShutdownWatchdog:
		return "watchdog"
	case ShutdownSoftReset:
		return "soft_reset"
	}
	return fmt.Sprintf("ShutdownReason(%d)", int(r))
}

func (r ShutdownReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// DomainInfo is libxl_dominfo plus the domain's name.
//
// Type comes from the hypervisor, which knows only "HVM container or not":
// a PVH guest shows as HVM here. DomainConfig has the configured type.
type DomainInfo struct {
	Domid          uint32
	Name           string
	UUID           [16]byte
	Type           DomainType
	State          DomainState
	ShutdownReason ShutdownReason // meaningful when State has StateShutdown

	CurrentMemKB     uint64
	MaxMemKB         uint64
	OutstandingMemKB uint64
	SharedMemKB      uint64
	PagedMemKB       uint64

	CPUTime    time.Duration
	VcpuMaxID  uint32
	VcpuOnline uint32
	Cpupool    uint32
	GpaddrBits uint8
	SSIDRef    uint32
	NeverStop  bool
}

// Flags gives xl list's state column, e.g. "-b----" or "r-----".
func (d DomainInfo) Flags() string {
	f := []byte("------")
	for i, x := range []struct {
		on bool
		c  byte
	}{
		{d.State.Has(StateRunning), 'r'},
		{d.State.Has(StateBlocked), 'b'},
		{d.State.Has(StatePaused), 'p'},
		{d.State.Has(StateShutdown), 's'},
		{d.State.Has(StateShutdown) && d.ShutdownReason == ShutdownCrash, 'c'},
		{d.State.Has(StateDying), 'd'},
	} {
		if x.on {
			f[i] = x.c
		}
	}
	return string(f)
}

// UUIDString formats the UUID as 8-4-4-4-12 hex digits.
func (d DomainInfo) UUIDString() string {
	u := d.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Passthrough mirrors libxl_passthrough (xl.cfg passthrough=): whether and
// how a domain got an IOMMU context at creation. Hot-plug into a domain
// created with "disabled" fails.
type Passthrough int

const (
	PassthroughDefault  Passthrough = 0
	PassthroughDisabled Passthrough = 1
	PassthroughEnabled  Passthrough = 2
	PassthroughSyncPT   Passthrough = 3
	PassthroughSharePT  Passthrough = 4
)

func (p Passthrough) String() string {
	switch p {
	case PassthroughDefault:
		return "default"
	case PassthroughDisabled:
		return "disabled"
	case PassthroughEnabled:
		return "enabled"
	case PassthroughSyncPT:
		return "sync_pt"
	case PassthroughSharePT:
		return "share_pt"
	}
	return fmt.Sprintf("Passthrough(%d)", int(p))
}

func (p Passthrough) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// DeviceModelVersion mirrors libxl_device_model_version.
type DeviceModelVersion int

const (
	DeviceModelUnknown         DeviceModelVersion = 0
	DeviceModelQemuTraditional DeviceModelVersion = 1
	DeviceModelQemuXen         DeviceModelVersion = 2
)

func (v DeviceModelVersion) String() string {
	switch v {
	case DeviceModelUnknown:
		return "unknown"
	case DeviceModelQemuTraditional:
		return "qemu-xen-traditional"
	case DeviceModelQemuXen:
		return "qemu-xen"
	}
	return fmt.Sprintf("DeviceModelVersion(%d)", int(v))
}

func (v DeviceModelVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// DomainConfig is the part of a running guest's libxl_domain_config that
// PCI hot-plug policy needs.
type DomainConfig struct {
	Name               string
	Type               DomainType
	Passthrough        Passthrough
	DeviceModelVersion DeviceModelVersion // HVM only
	TargetMemKB        uint64
	MaxMemKB           uint64
	// Rdm and RdmMemBoundaryKB are set for HVM guests only.
	Rdm              RdmReserve
	RdmMemBoundaryKB uint64
	// VideoMemKB and MMIOHoleKB shape an HVM guest's low memory (and so
	// where reserved regions fall); 0 for other guests.
	VideoMemKB uint64
	MMIOHoleKB uint64
	Pcidevs    []DevicePci
	// VnumaNodes is the number of vNUMA nodes (vnuma=); NoMigrate is
	// nomigrate= (b_info.disable_migrate). Both rule out migration.
	VnumaNodes int
	NoMigrate  bool
}

// PoD reports whether the guest was configured to populate on demand
// (memory < maxmem), which libxl refuses together with passthrough.
func (c DomainConfig) PoD() bool {
	return c.Type == DomainTypeHVM && c.TargetMemKB < c.MaxMemKB
}
