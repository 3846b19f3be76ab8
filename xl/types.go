package xl

import (
	"fmt"
	"strconv"
)

// PciBdf names one PCI function on the host: segment ("domain" in PCI
// terms, not a Xen domain), bus, device and function.
type PciBdf struct {
	Domain uint16
	Bus    uint8
	Dev    uint8
	Func   uint8
}

// String gives the canonical sysfs form, 0000:01:00.0.
func (b PciBdf) String() string { return string(b.appendTo(make([]byte, 0, 12))) }

// AppendText appends String's form to dst. Without fmt: a full scan's
// report prints thousands of BDFs.
func (b PciBdf) AppendText(dst []byte) ([]byte, error) { return b.appendTo(dst), nil }

// appendTo is %04x:%02x:%02x.%x of segment, bus, device and function.
func (b PciBdf) appendTo(dst []byte) []byte {
	dst = appendHex(dst, uint64(b.Domain), 4)
	dst = append(dst, ':')
	dst = appendHex(dst, uint64(b.Bus), 2)
	dst = append(dst, ':')
	dst = appendHex(dst, uint64(b.Dev), 2)
	dst = append(dst, '.')
	return appendHex(dst, uint64(b.Func), 1)
}

// appendHex appends v in lower-case hex, zero-padded to width digits.
func appendHex(dst []byte, v uint64, width int) []byte {
	var digits [16]byte
	h := strconv.AppendUint(digits[:0], v, 16)
	for n := len(h); n < width; n++ {
		dst = append(dst, '0')
	}
	return append(dst, h...)
}

// Slot is the same BDF with function 0: the physical slot of a
// multi-function device.
func (b PciBdf) Slot() PciBdf { b.Func = 0; return b }

// Less orders BDFs by segment, bus, device, function.
func (b PciBdf) Less(o PciBdf) bool {
	if b.Domain != o.Domain {
		return b.Domain < o.Domain
	}
	if b.Bus != o.Bus {
		return b.Bus < o.Bus
	}
	if b.Dev != o.Dev {
		return b.Dev < o.Dev
	}
	return b.Func < o.Func
}

// RdmPolicy mirrors libxl_rdm_reserve_policy.
type RdmPolicy int

const (
	// RdmPolicyInvalid means "not set"; libxl turns it into strict when a
	// device is added.
	RdmPolicyInvalid RdmPolicy = -1
	RdmPolicyStrict  RdmPolicy = 0
	RdmPolicyRelaxed RdmPolicy = 1
)

func (p RdmPolicy) String() string {
	switch p {
	case RdmPolicyStrict:
		return "strict"
	case RdmPolicyRelaxed:
		return "relaxed"
	case RdmPolicyInvalid:
		return "invalid"
	}
	return fmt.Sprintf("RdmPolicy(%d)", int(p))
}

// RdmStrategy mirrors libxl_rdm_reserve_strategy.
type RdmStrategy int

const (
	RdmStrategyIgnore RdmStrategy = 0
	RdmStrategyHost   RdmStrategy = 1
)

func (s RdmStrategy) String() string {
	switch s {
	case RdmStrategyIgnore:
		return "ignore"
	case RdmStrategyHost:
		return "host"
	}
	return fmt.Sprintf("RdmStrategy(%d)", int(s))
}

// RdmReserve mirrors libxl_rdm_reserve (xl.cfg's rdm= setting).
type RdmReserve struct {
	Strategy RdmStrategy
	Policy   RdmPolicy
}

// FuncAll is LIBXL_PCI_FUNC_ALL: the vfunc_mask that means "every function".
const FuncAll uint32 = ^uint32(0)

// DevicePci mirrors libxl_device_pci field for field. Its zero value is not
// libxl's default: use NewDevicePci, which sets RdmPolicy to Invalid as
// libxl_device_pci_init does.
type DevicePci struct {
	PciBdf
	// Vdevfn is the guest devfn, slot<<3 | function; 0 lets the device
	// model choose.
	Vdevfn       uint32
	VfuncMask    uint32
	Msitranslate bool
	PowerMgmt    bool
	Permissive   bool
	Seize        bool
	RdmPolicy    RdmPolicy
	// Name is the name given at assignable-add time; "" when unset.
	Name string
}

// NewDevicePci returns a DevicePci with libxl_device_pci_init's defaults.
func NewDevicePci() DevicePci { return DevicePci{RdmPolicy: RdmPolicyInvalid} }

// VSlot is the guest slot requested by Vdevfn (0: let the device model choose).
func (d DevicePci) VSlot() uint8 { return uint8(d.Vdevfn >> 3 & 0x1f) }

// VFunc is the guest function requested by Vdevfn.
func (d DevicePci) VFunc() uint8 { return uint8(d.Vdevfn & 7) }

// AllFuncs reports whether the spec asked for every function (BB:DD.*).
func (d DevicePci) AllFuncs() bool { return d.VfuncMask == FuncAll }

// Vdevfn encodes a guest slot and function.
func Vdevfn(slot, fn uint8) uint32 { return uint32(slot&0x1f)<<3 | uint32(fn&7) }

// PciXsEntry is libxl's own xenstore record of a host device
// (/libxl/pci/BDF): the domain it was given to, and the dom0 driver
// pci-assignable-add unbound it from (for pci-assignable-remove -r).
// libxl counts a device with a domid entry as in use, whatever the
// domain's device list says.
type PciXsEntry struct {
	BDF        PciBdf
	Domid      uint32
	HasDomid   bool
	DriverPath string // e.g. /sys/bus/pci/drivers/e1000e; "" none
}
