package pcitest

// Large is a host with exactly n functions (n >= 16), shaped like a big
// virtualisation server: about three quarters SR-IOV VFs (PFs of up to
// 256 VFs, each PF under its own root port), PCIe switches with
// multi-function endpoints (every other one without FLR, every fourth
// downstream port without ACS), one PCIe-to-PCI bridge with four
// conventional devices, and a host bridge.
func Large(n int) Topology {
	if n < 16 {
		n = 16
	}
	root := []*Node{{Kind: HostBridgeNode}}
	left := n - 1
	conv := &Node{Kind: PCIeToPCI}
	for i := 0; i < 4; i++ {
		conv.Children = append(conv.Children, &Node{Kind: PCIDevice, Driver: "e1000", FLR: i%2 == 0})
	}
	root = append(root, &Node{Kind: RootPort, Children: []*Node{conv}})
	left -= 6

	vfs := left * 3 / 4
	for vfs > 0 && len(root) < 28 {
		k := min(vfs, 256)
		if k+2 > left {
			break
		}
		root = append(root, &Node{Kind: RootPort, Children: []*Node{{
			Kind: Endpoint, FLR: true, MSIX: 64, Vendor: 0x8086, Device: 0x1592, TotalVFs: 256, NumVFs: k,
			VFDevice: 0x1889, Driver: "ice", VFDriver: "iavf"}}})
		vfs -= k
		left -= k + 2
	}
	i := 0
	for left > 0 && len(root) < 32 {
		// A root port with a switch: 2 functions, then downstream
		// ports of 1 + up to 8 endpoint functions each.
		if left < 4 {
			root = append(root, &Node{Kind: Endpoint, Funcs: left, Driver: "virtio-pci", Vendor: 0x1af4, Device: 0x1041})
			left = 0
			break
		}
		up := &Node{Kind: SwitchUp}
		root = append(root, &Node{Kind: RootPort, Children: []*Node{up}})
		left -= 2
		for left >= 2 && len(up.Children) < 16 {
			f := min(8, left-1)
			i++
			up.Children = append(up.Children, &Node{Kind: SwitchDown, NoACS: i%4 == 0, Children: []*Node{{
				Kind: Endpoint, Funcs: f, FLR: i%2 == 0, MSIX: 16, MSI: true, Vendor: 0x15b3, Device: 0x1015,
				Driver: "mlx5_core"}}})
			left -= 1 + f
		}
	}
	return Topology{Root: root, Drivers: []string{"pciback"}}
}

// Wide is Large(n) with many capabilities on every endpoint function,
// VFs included: besides PCIe, MSI-X and AER, also MSI, vendor-specific,
// DSN, LTR, L1SS, ATS, PASID and a vendor-specific extended capability,
// where a Large VF has three. It is the other shape for scan benchmarks
// (config decoding dominates rather than file opens).
func Wide(n int) Topology {
	t := Large(n)
	var walk func([]*Node)
	walk = func(ns []*Node) {
		for _, x := range ns {
			if x.Kind == Endpoint || x.Kind == PCIDevice {
				x.ManyCaps, x.MSI = true, true
			}
			walk(x.Children)
		}
	}
	walk(t.Root)
	return t
}
