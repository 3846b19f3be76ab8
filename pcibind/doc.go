// Package pcibind is the host's PCI world as dom0 Linux shows it in sysfs:
// every function with its driver, config-space capabilities, topology and
// same-domain group, plus the driver bindings (pciback, pci-stub, back to
// the original driver) that make a device assignable to a Xen guest.
//
// Everything is read beneath a root given to New (default "/sys"); there
// are no path globals, so tests run on temporary trees without root.
//
// Hand-written rather than taken from a library, and why:
//   - The config-space walker and decoders (config.go, caps.go): u-root's
//     pkg/pci indexes buffers without length checks and hard-codes /sys,
//     and libraries that decode capabilities do not cover the Xen-relevant
//     ones (AF FLR, ACS control, PM NoSoftRst, SR-IOV routing). A hostile
//     config file must never hang or crash us, so the walk is bounded and
//     fuzzed.
//   - The pci.ids reader (pciids.go): a lazy lookup over Debian's file
//     costs one read and no dependency; names are optional decoration.
//   - Same-domain groups: dom0 under Xen has no IOMMU groups and neither
//     libxl nor Xen 4.17 enforce the rule, so we compute it from sysfs.
//
// MSI and MSI-X fields are decoded by package msi; this package only
// reports their presence.
package pcibind
