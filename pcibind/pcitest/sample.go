package pcitest

// Sample is a small host with one of everything pcibind distinguishes:
// a host bridge; a root port with a multi-function endpoint lacking FLR;
// a root port with a switch (one downstream port with ACS, one without,
// one with ACS disabled); a root port with a PCIe-to-PCI bridge holding
// two conventional devices and a legacy bridge with one more; an SR-IOV
// PF with 4 of 8 VFs enabled; an NVMe disk and a NIC dom0 uses.
func Sample() Topology {
	return Topology{
		Drivers: []string{"pciback", "pci-stub"},
		Root: []*Node{
			{Kind: HostBridgeNode},
			{Kind: RootPort, Children: []*Node{
				{Kind: Endpoint, Funcs: 2, Vendor: 0x10de, Device: 0x1b80, Class: 0x030000, MSI: true, Driver: "nouveau"},
			}},
			{Kind: RootPort, Children: []*Node{
				{Kind: SwitchUp, Children: []*Node{
					{Kind: SwitchDown, Children: []*Node{
						{Kind: Endpoint, FLR: true, MSIX: 8, Driver: "ixgbe", Vendor: 0x8086, Device: 0x10fb},
					}},
					{Kind: SwitchDown, NoACS: true, Children: []*Node{
						{Kind: Endpoint, FLR: true, MSIX: 4, Driver: "e1000e", Vendor: 0x8086, Device: 0x10d3},
					}},
					{Kind: SwitchDown, ACSCtrl: 0x0001, Children: []*Node{
						{Kind: Endpoint, FLR: true, MSI: true, Vendor: 0x1912, Device: 0x0014, Class: 0x0c0330, Driver: "xhci_hcd"},
					}},
				}},
			}},
			{Kind: RootPort, Children: []*Node{
				{Kind: PCIeToPCI, Children: []*Node{
					{Kind: PCIDevice, Vendor: 0x8086, Device: 0x100e, Driver: "e1000"},
					{Kind: PCIDevice, Vendor: 0x1274, Device: 0x5000, Class: 0x040100, FLR: true, Driver: "snd_ens1370"},
					{Kind: LegacyBridge, Children: []*Node{
						{Kind: PCIDevice, Vendor: 0x1102, Device: 0x0002, Class: 0x040100, NoPM: true},
					}},
				}},
			}},
			{Kind: RootPort, Children: []*Node{
				{Kind: Endpoint, FLR: true, MSIX: 64, Vendor: 0x8086, Device: 0x1521, TotalVFs: 8, NumVFs: 4,
					VFDevice: 0x1520, Driver: "igb", VFDriver: "igbvf"},
			}},
			{Kind: RootPort, Children: []*Node{
				{Kind: Endpoint, FLR: true, MSIX: 32, Vendor: 0x144d, Device: 0xa808, Class: 0x010802, Driver: "nvme", BlockDev: "nvme0n1"},
			}},
			{Kind: Endpoint, FLR: true, MSIX: 3, Vendor: 0x1af4, Device: 0x1041, Driver: "virtio-pci", NetDev: "eth0"},
		},
	}
}
