// Package rdm finds the reserved device memory (RDM) regions of the host
// and predicts what libxl 4.17 does with them when an HVM guest is built or
// a device is hot-plugged.
//
// Where the regions come from:
//   - Xen: xc_reserved_device_memory_map, called through libxenctrl by the
//     xenlight package. Its answers enter here as Extent values (FromXen);
//     this package has no cgo.
//   - The firmware: the ACPI DMAR table (ParseDMAR, ReadDMAR). Its RMRR
//     structures name the devices through scope paths, resolved to BDFs
//     through the host's bridges (SecondaryBusFunc, SysfsSecondaryBus).
//   - Xen's rmrr= boot option (ParseXenRMRR, RMRRFromCmdline), which adds
//     regions the firmware forgot.
//
// The settings: ParseRdm is our own parser of xl.cfg's
// rdm="strategy=...,policy=..." and Xl417Rdm says what xl 4.17 does with
// the same string (its parser drops every valid policy, see Xl417Rdm).
//
// The policy: Check reproduces libxl__domain_device_construct_rdm
// (tools/libs/light/libxl_dm.c) on the memory layout libxl__build_hvm
// (libxl_dom.c) computes; CheckHotplug gives the outcome of hot-plugging a
// device with regions into a running HVM guest.
//
// Everything here is hand-written Go, on purpose:
//   - The DMAR parser is ours because the table is hostile input (a sysfs
//     file any firmware can fill) and the only other decoders are ACPICA
//     (C, GPL/BSD, not a library we can call from Go without cgo) and the
//     kernel's and Xen's, which are not callable at all. It is bounded (no
//     allocation or loop grows beyond the table's own length) and fuzzed;
//     the tests cross-check it against ACPICA's iasl on tables compiled
//     from testdata/*.asl.
//   - The rmrr= parser follows Xen's parse_rmrr_param (vtd/dmar.c), which
//     only exists inside the hypervisor.
//   - The rdm= parser is ours because libxlutil's xlu_rdm_parse is broken in
//     4.17; calling it would import the bug.
//   - The policy engine restates libxl's internal (non-exported) functions;
//     libxl offers no "dry run" of a domain build.
package rdm
