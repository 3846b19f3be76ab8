//go:build !cgo || !linux

package xenlight

import (
	"fmt"

	"github.com/xlpt/xlpt/xl"
)

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

func (*Context) DomainInfo(domid uint32) (xl.DomainInfo, error) {
	return xl.DomainInfo{}, noLibxlErr(fmt.Sprintf("domain %d", domid))
}

func (*Context) ListDomains() ([]xl.DomainInfo, error) { return nil, noLibxlErr("list domains") }

func (*Context) DomainConfig(domid uint32) (xl.DomainConfig, error) {
	return xl.DomainConfig{}, noLibxlErr(fmt.Sprintf("domain %d: configuration", domid))
}

func (*Context) PhysInfo() (xl.PhysInfo, error) { return xl.PhysInfo{}, noLibxlErr("host info") }

func (*Context) DomainPause(domid uint32) error   { return noLibxlErr("pause domain") }
func (*Context) DomainUnpause(domid uint32) error { return noLibxlErr("unpause domain") }

func (*Context) PciAdd(domid uint32, d xl.DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci add %s to domain %d", d.PciBdf, domid))
}

func (*Context) PciRemove(domid uint32, d xl.DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci remove %s from domain %d", d.PciBdf, domid))
}

func (*Context) PciDestroy(domid uint32, d xl.DevicePci) error {
	return noLibxlErr(fmt.Sprintf("pci destroy %s in domain %d", d.PciBdf, domid))
}

func (*Context) PciList(domid uint32) ([]xl.DevicePci, error) {
	return nil, noLibxlErr(fmt.Sprintf("pci list of domain %d", domid))
}

func (*Context) PciAssignableAdd(d xl.DevicePci, rebind bool) error {
	return noLibxlErr(fmt.Sprintf("pci assignable add %s", d.PciBdf))
}

func (*Context) PciAssignableRemove(d xl.DevicePci, rebind bool) error {
	return noLibxlErr(fmt.Sprintf("pci assignable remove %s", d.PciBdf))
}

func (*Context) PciAssignableList() ([]xl.DevicePci, error) {
	return nil, noLibxlErr("pci assignable list")
}

func (*Context) ReservedDeviceMemory() ([]xl.RdmRegion, error) {
	return nil, noLibxlErr("reserved device memory")
}

func (*Context) DeviceReservedMemory(b xl.PciBdf) ([]xl.RdmRegion, error) {
	return nil, noLibxlErr(fmt.Sprintf("reserved device memory of %s", b))
}

func (*Context) PodTarget(domid uint32) (xl.PodTarget, error) {
	return xl.PodTarget{}, noLibxlErr(fmt.Sprintf("domain %d: pod target", domid))
}

func (*Context) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	return 0, false, noLibxlErr(fmt.Sprintf("read libxl's record of %s", b))
}

func (*Context) PciXsEntries() ([]xl.PciXsEntry, error) {
	return nil, noLibxlErr("read libxl's device records")
}

func (*Context) PciXsRemove(b xl.PciBdf, key string) error {
	return noLibxlErr(fmt.Sprintf("remove libxl's record %s of %s", key, b))
}

func (*Context) PciXsSetDriverPath(b xl.PciBdf, path string) error {
	return noLibxlErr(fmt.Sprintf("record the driver of %s", b))
}

func (*Context) PciXenAssigned(b xl.PciBdf) (bool, error) {
	return false, noLibxlErr(fmt.Sprintf("ask Xen about %s", b))
}

func (*Context) PciXenDeassign(domid uint32, b xl.PciBdf) error {
	return noLibxlErr(fmt.Sprintf("deassign %s from domain %d", b, domid))
}
