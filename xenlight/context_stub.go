//go:build !cgo || !linux

package xenlight

import "fmt"

// Context is a stand-in in builds without cgo: Open and every method fail
// with an error matching ErrNoLibxl and ErrNoHypervisor, so the cause is
// reported where libxl would have been used.
type Context struct{}

func noLibxlErr(what string) error { return fmt.Errorf("%s: %w", what, ErrNoLibxl) }

// Open fails: this build has no libxl.
func Open(...Option) (*Context, error) { return nil, noLibxlErr("open libxl") }

// Close does nothing.
func (*Context) Close() error { return nil }

func (*Context) DomainQualifierToID(q string) (uint32, error) {
	return 0, noLibxlErr(fmt.Sprintf("domain %q", q))
}

func (*Context) DomainInfo(domid uint32) (DomainInfo, error) {
	return DomainInfo{}, noLibxlErr(fmt.Sprintf("domain %d", domid))
}

func (*Context) ListDomains() ([]DomainInfo, error) { return nil, noLibxlErr("list domains") }

func (*Context) DomainConfig(domid uint32) (DomainConfig, error) {
	return DomainConfig{}, noLibxlErr(fmt.Sprintf("domain %d: configuration", domid))
}

func (*Context) PhysInfo() (PhysInfo, error) { return PhysInfo{}, noLibxlErr("host info") }

func (*Context) PciAdd(domid uint32, d DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci add %s to domain %d", d.PciBdf, domid))
}

func (*Context) PciRemove(domid uint32, d DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci remove %s from domain %d", d.PciBdf, domid))
}

func (*Context) PciDestroy(domid uint32, d DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci destroy %s in domain %d", d.PciBdf, domid))
}

func (*Context) PciList(domid uint32) ([]DevicePci, error) {
	return nil, noLibxlErr(fmt.Sprintf("pci list of domain %d", domid))
}

func (*Context) PciAssignableAdd(d DevicePci, rebind bool) error {
	return noLibxlErr(fmt.Sprintf("pci assignable add %s", d.PciBdf))
}

func (*Context) PciAssignableRemove(d DevicePci, rebind bool) error {
	return noLibxlErr(fmt.Sprintf("pci assignable remove %s", d.PciBdf))
}

func (*Context) PciAssignableList() ([]DevicePci, error) {
	return nil, noLibxlErr("pci assignable list")
}

func (*Context) ReservedDeviceMemory() ([]RdmRegion, error) {
	return nil, noLibxlErr("reserved device memory")
}

func (*Context) DeviceReservedMemory(b PciBdf) ([]RdmRegion, error) {
	return nil, noLibxlErr(fmt.Sprintf("reserved device memory of %s", b))
}

func (*Context) PodTarget(domid uint32) (PodTarget, error) {
	return PodTarget{}, noLibxlErr(fmt.Sprintf("domain %d: pod target", domid))
}
