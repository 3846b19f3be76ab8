package pcibind_test

import (
	"fmt"
	"os"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/pcibind/pcitest"
)

// Scan a sysfs tree (here a synthetic one: a PCIe NIC, and two
// conventional NICs behind a PCIe-to-PCI bridge) and list the same-domain
// groups: the devices that must go to one domain together.
func Example_groups() {
	dir, err := os.MkdirTemp("", "sysfs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	nic := func(kind pcitest.Kind) *pcitest.Node {
		return &pcitest.Node{Kind: kind, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"}
	}
	tree, err := pcitest.Generate(dir, pcitest.Topology{Root: []*pcitest.Node{
		nic(pcitest.Endpoint),
		{Kind: pcitest.RootPort, Children: []*pcitest.Node{
			{Kind: pcitest.PCIeToPCI, Children: []*pcitest.Node{nic(pcitest.PCIDevice), nic(pcitest.PCIDevice)}},
		}},
	}})
	if err != nil {
		panic(err)
	}
	host, err := pcibind.New(tree.Root).Scan()
	if err != nil {
		panic(err)
	}
	for _, d := range host.Devices {
		if d.IsBridge() {
			continue
		}
		if br, ok := host.GroupBridge(d.BDF); ok {
			fmt.Printf("%s %s: one domain with %v (behind %s)\n", d.BDF, d.Driver, host.Group(d.BDF), br)
		} else {
			fmt.Printf("%s %s: on its own (%s)\n", d.BDF, d.Driver, map[bool]string{true: "PCIe", false: "conventional"}[d.IsPCIe()])
		}
	}
	// Output:
	// 0000:00:01.0 e1000: on its own (PCIe)
	// 0000:02:00.0 e1000: one domain with [0000:02:00.0 0000:02:01.0] (behind 0000:01:00.0)
	// 0000:02:01.0 e1000: one domain with [0000:02:00.0 0000:02:01.0] (behind 0000:01:00.0)
}
