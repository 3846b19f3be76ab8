// Package xl holds the values libxl and xl speak in, as plain Go: PCI
// addresses and devices (PciBdf, DevicePci), the xl PCI_SPEC_STRING
// grammar, RDM settings and regions, domain and host descriptions, and
// libxl's error codes. It has no cgo and no dependencies outside the
// standard library, so any Go program can parse a spec or reason about a
// device without linking libxl; package xenlight (the cgo binding) speaks
// these types to libxl.
//
// The spec parser accepts what libxlutil 4.17 accepts, with the same
// meaning, and refuses the inputs libxlutil silently misreads (ParseSpec);
// ParseSpecXL reads as xl does and reports each misread. The differential
// test in spec_xlu_test.go holds it to libxlutil itself, through the cgo
// test helper internal/xlu.
//
// Files:
//
//	types.go         PciBdf, DevicePci, RDM policy and strategy
//	spec.go          PCI_SPEC_STRING parser (strict and xl-compatible) and formatter
//	json.go          DevicePci as JSON with libxl_device_pci's field names
//	domain_types.go  domains: type, state, info, stored configuration
//	host_types.go    physinfo
//	rdm_types.go     reserved device memory regions
//	error.go         libxl's error codes as Error; CallError; ErrNoHypervisor
package xl
