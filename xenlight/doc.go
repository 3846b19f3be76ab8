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
//	types.go, domain_types.go, host_types.go, rdm_types.go
//	             pure-Go mirrors of libxl's types (no cgo)
//	spec.go      PCI_SPEC_STRING parser (strict and xl-compatible) and formatter
//	json.go      JSON with libxl_device_pci's field names
//	error.go     libxl error codes as Error
//	probe.go     the dom0 check that names why libxl cannot be opened
//	api.go       the method set both builds must have
//	context.go, domain.go, host.go, pci.go, convert.go
//	             the cgo binding (linux && cgo)
//	xc.go        libxenctrl: reserved device memory, PoD target
//	logger.go, logbridge.go, logsink.go
//	             xentoollog messages into logrus, and per-call error capture
//	sigchld.go   SIGCHLD forwarding (libxl's main-loop mode)
//	context_stub.go  the build without cgo: every call fails with ErrNoLibxl
//	qmp/         the QMP clean-up libxl 4.17 leaves undone after a failed attach
//	xlcfg/       xl.cfg reader and editor, as libxlutil reads it
package xenlight
