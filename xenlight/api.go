package xenlight

// contextAPI lists Context's methods. Both the cgo binding and the stub
// must satisfy it, so the two builds cannot drift apart unnoticed.
type contextAPI interface {
	Close() error
	DomainQualifierToID(q string) (uint32, error)
	DomainInfo(domid uint32) (DomainInfo, error)
	ListDomains() ([]DomainInfo, error)
	DomainConfig(domid uint32) (DomainConfig, error)
	PhysInfo() (PhysInfo, error)
	PciAdd(domid uint32, d DevicePci) error
	PciRemove(domid uint32, d DevicePci) error
	PciDestroy(domid uint32, d DevicePci) error
	PciList(domid uint32) ([]DevicePci, error)
	PciAssignableAdd(d DevicePci, rebind bool) error
	PciAssignableRemove(d DevicePci, rebind bool) error
	PciAssignableList() ([]DevicePci, error)
	ReservedDeviceMemory() ([]RdmRegion, error)
	DeviceReservedMemory(b PciBdf) ([]RdmRegion, error)
	PodTarget(domid uint32) (PodTarget, error)
}

var _ contextAPI = (*Context)(nil)

// Open's signature is checked the same way.
var _ func(...Option) (*Context, error) = Open
