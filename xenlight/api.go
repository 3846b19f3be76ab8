package xenlight

import "github.com/xlpt/xlpt/xl"

// contextAPI lists Context's methods. Both the cgo binding and the stub
// must satisfy it, so the two builds cannot drift apart unnoticed.
type contextAPI interface {
	Close() error
	DomainQualifierToID(q string) (uint32, error)
	DomainInfo(domid uint32) (xl.DomainInfo, error)
	ListDomains() ([]xl.DomainInfo, error)
	DomainConfig(domid uint32) (xl.DomainConfig, error)
	PhysInfo() (xl.PhysInfo, error)
	PciAdd(domid uint32, d xl.DevicePci) error
	PciRemove(domid uint32, d xl.DevicePci) error
	PciDestroy(domid uint32, d xl.DevicePci) error
	PciList(domid uint32) ([]xl.DevicePci, error)
	PciAssignableAdd(d xl.DevicePci, rebind bool) error
	PciAssignableRemove(d xl.DevicePci, rebind bool) error
	PciAssignableList() ([]xl.DevicePci, error)
	ReservedDeviceMemory() ([]xl.RdmRegion, error)
	DeviceReservedMemory(b xl.PciBdf) ([]xl.RdmRegion, error)
	PodTarget(domid uint32) (xl.PodTarget, error)
}

var _ contextAPI = (*Context)(nil)

// Open's signature is checked the same way.
var _ func(...Option) (*Context, error) = Open
