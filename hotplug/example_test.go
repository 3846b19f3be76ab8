package hotplug_test

import (
	"fmt"
	"os"

	"github.com/xlpt/xlpt/hotplug"
	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
	"github.com/xlpt/xlpt/xl"
)

// toyToolstack stands in for libxl: one running HVM guest, web01, and the
// devices on pciback. A real program passes a *xenlight.Context. The
// embedded interface leaves the calls this example does not make unset.
type toyToolstack struct {
	hotplug.Toolstack
	assignable map[xl.PciBdf]bool
	attached   []xl.DevicePci
}

func (t *toyToolstack) DomainQualifierToID(q string) (uint32, error) {
	if q == "web01" {
		return 3, nil
	}
	return 0, xl.ErrDomainNotFound
}
func (t *toyToolstack) DomainInfo(uint32) (xl.DomainInfo, error) {
	return xl.DomainInfo{Domid: 3, Name: "web01", Type: xl.DomainTypeHVM, State: xl.StateBlocked}, nil
}
func (t *toyToolstack) DomainConfig(uint32) (xl.DomainConfig, error) {
	return xl.DomainConfig{Name: "web01", Type: xl.DomainTypeHVM, Passthrough: xl.PassthroughEnabled,
		TargetMemKB: 1 << 20, MaxMemKB: 1 << 20}, nil
}
func (t *toyToolstack) ListDomains() ([]xl.DomainInfo, error) {
	d, _ := t.DomainInfo(3)
	return []xl.DomainInfo{{Name: "Domain-0"}, d}, nil
}
func (t *toyToolstack) PhysInfo() (xl.PhysInfo, error) {
	return xl.PhysInfo{CapHVM: true, CapHVMDirectIO: true}, nil
}
func (t *toyToolstack) PciList(uint32) ([]xl.DevicePci, error) { return t.attached, nil }
func (t *toyToolstack) PciAssignableList() ([]xl.DevicePci, error) {
	var out []xl.DevicePci
	for b := range t.assignable {
		d := xl.NewDevicePci()
		d.PciBdf, d.VfuncMask = b, 1
		out = append(out, d)
	}
	return out, nil
}
func (t *toyToolstack) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	for _, d := range t.attached {
		if d.PciBdf == b {
			return 3, true, nil
		}
	}
	return 0, !t.assignable[b], nil
}
func (t *toyToolstack) ReservedDeviceMemory() ([]xl.RdmRegion, error)          { return nil, nil }
func (t *toyToolstack) DeviceReservedMemory(xl.PciBdf) ([]xl.RdmRegion, error) { return nil, nil }
func (t *toyToolstack) PciAdd(_ uint32, d xl.DevicePci) error {
	t.attached = append(t.attached, d)
	return nil
}

// Attach a device to a running HVM guest: xlpt's rules choose the guest
// slot (the lowest free hot-plug slot, 6) and check the device before the
// toolstack is called.
func ExampleService_Attach() {
	dir, err := os.MkdirTemp("", "sysfs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	tree, err := pcitest.Generate(dir, pcitest.Topology{Root: []*pcitest.Node{
		{Kind: pcitest.Endpoint, MSI: true, Vendor: 0x8086, Device: 0x10d3, Driver: "pciback"},
	}})
	if err != nil {
		panic(err)
	}
	nic := tree.Funcs[0].BDF
	ts := &toyToolstack{assignable: map[xl.PciBdf]bool{nic: true}}
	// The host's sysfs (here a generated tree) and the toolstack; the
	// service reads the host itself.
	svc := hotplug.New(hotplug.Env{Sysfs: pcibind.New(tree.Root), Toolstack: ts})

	spec, err := xl.ParseSpec(nic.String())
	if err != nil {
		panic(err)
	}
	res, err := svc.Attach(hotplug.AttachRequest{Domain: "web01", Device: spec})
	if err != nil {
		panic(err)
	}
	for _, d := range res.Attached {
		fmt.Printf("%s attached to %s at guest slot %d\n", d.PciBdf, res.Domain, d.VSlot())
	}
	// Output:
	// 0000:00:01.0 attached to web01 at guest slot 6
}
