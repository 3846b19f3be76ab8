// Package pcibind is the host's PCI world as dom0 Linux shows it in sysfs:
// every function with its driver, config-space capabilities, topology and
// same-domain group; the safety checks that keep dom0's own disks, NICs
// and bridges out of guests; and the driver bindings (pciback, pci-stub,
// back to the original driver) that make a device assignable to a Xen
// guest.
//
// Everything is read beneath a root given to New (default "/sys", and a
// /proc root for the safety checks); there are no path globals, so tests
// and bug reports run on recorded or generated trees without root. Every
// write goes through an AttrWriter, the seam where tests put the
// simulated kernel of package pcitest.
//
// Hand-written rather than taken from a library, and why:
//   - The config-space walker and decoders (config.go, caps.go): u-root's
//     pkg/pci indexes buffers without length checks and hard-codes /sys,
//     and no library decodes the Xen-relevant bits (AF FLR, ACS control,
//     PM NoSoftRst, SR-IOV routing). A hostile config file must never hang
//     or crash us, so the walk is bounded (visited set, hop limit,
//     alignment, bounds) and fuzzed.
//   - The scanner (scan.go, sysfs.go): it has to beat lspci on thousands
//     of functions, so it reads each device relative to an O_PATH
//     descriptor with open/read/close only, takes what it can from config
//     space instead of separate files, and runs a small worker pool.
//   - Targeted reads (targeted.go): a command about named devices reads
//     each one, its parents, the functions behind its topmost PCIe-to-PCI
//     bridge and a VF's PF (Sysfs.Read), and whatever it asks about later
//     on demand, never the whole bus; tests hold it to the full Scan's
//     answers. A host with thousands of VFs then costs what a small one
//     does.
//   - The pci.ids reader (pciids.go): one pass indexes vendors; names are
//     looked up on demand. github.com/jaypipes/pcidb parses the whole file
//     into maps and searches several paths; we need a dozen names.
//   - Same-domain groups (topo.go): dom0 under Xen has no IOMMU groups and
//     neither libxl nor Xen 4.17 enforce the rule, so we compute it from
//     sysfs (the topmost PCIe-to-PCI or legacy bridge above a device).
//   - Binding (bind.go, group.go): libxl's own sequence leaves a device
//     without a driver when a late step fails; ours records the original
//     driver in a state file first, registers each undo before its write
//     and checks the driver link rather than errno.
//
// MSI and MSI-X fields are decoded by package msi over Config; this
// package only reports their presence.
package pcibind
