// Package xenlight is xlpt's own thin cgo binding to libxl (libxenlight) 4.17
// and the pure-Go types that mirror libxl's PCI structures.
//
// It is written by hand: no Go module for libxl is served to us, and the
// upstream binding (tools/golang/xenlight) lacks pci list/destroy and the
// assignable calls, and panics in DomainInfo on 4.17. The binding is kept
// small on purpose: one Context around one libxl_ctx, C structs that live for
// one call (init or toC, call, deferred dispose), libxl return codes as the
// typed Error, and no finalizers (Close is explicit).
//
// Besides the binding the package holds the xl PCI_SPEC_STRING parser and
// formatter (spec.go). It accepts what libxlutil 4.17 accepts, with the same
// meaning, and refuses the inputs libxlutil silently misreads; the
// differential test in spec_xlu_test.go holds it to that against libxlutil
// itself.
//
// Files:
//
//	types.go     PciBdf, DevicePci, RdmPolicy: pure Go, no cgo
//	spec.go      PCI_SPEC_STRING parser (strict and xl-compatible) and formatter
//	error.go     libxl error codes as Error
//	context*.go  the cgo binding (linux && cgo), and a stub without cgo
package xenlight
