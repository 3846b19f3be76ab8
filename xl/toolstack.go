package xl

// Toolstack is every call xlpt makes to libxl (and to libxenctrl and
// xenstore where libxl has no call), in this package's values. It is
// written once, here: *xenlight.Context implements it in both builds (the
// cgo binding and the stub), package hotplug decides through it, and
// tests put a fake in its place.
type Toolstack interface {
	DomainQualifierToID(q string) (uint32, error)
	DomainInfo(domid uint32) (DomainInfo, error)
	DomainConfig(domid uint32) (DomainConfig, error)
	ListDomains() ([]DomainInfo, error)
	PhysInfo() (PhysInfo, error)
	// DomainPause and DomainUnpause are counted in Xen: an unpause ends
	// one pause (xl pause / xl unpause).
	DomainPause(domid uint32) error
	DomainUnpause(domid uint32) error
	PciAdd(domid uint32, d DevicePci) error
	PciRemove(domid uint32, d DevicePci) error
	PciDestroy(domid uint32, d DevicePci) error
	PciList(domid uint32) ([]DevicePci, error)
	PciAssignableAdd(d DevicePci, rebind bool) error
	PciAssignableRemove(d DevicePci, rebind bool) error
	PciAssignableList() ([]DevicePci, error)
	// PciXsDomid is libxl's record of the domain it gave b to
	// (/libxl/pci/BDF/domid in xenstore): held is false when there is
	// none. A function bound to pciback without one is exactly what
	// libxl's assignable list holds (libxl_device_pci_assignable_list
	// reads pciback's sysfs directory and this key of each function), so
	// one xenstore read answers for one function.
	PciXsDomid(b PciBdf) (domid uint32, held bool, err error)

	// What recovery reads and repairs beyond libxl's API: libxl's own
	// xenstore records (/libxl/pci/BDF) and Xen's assignment.
	PciXsEntries() ([]PciXsEntry, error)
	PciXsRemove(b PciBdf, key string) error // key: "domid" or "driver_path"
	PciXsSetDriverPath(b PciBdf, path string) error
	PciXenAssigned(b PciBdf) (bool, error) // Xen gives b to a guest (not dom0, not quarantine)
	PciXenDeassign(domid uint32, b PciBdf) error

	// Reserved device memory as Xen reports it (libxenctrl), for the host
	// and for one device.
	ReservedDeviceMemory() ([]RdmRegion, error)
	DeviceReservedMemory(b PciBdf) ([]RdmRegion, error)
}
