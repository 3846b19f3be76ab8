// Package xenlight is xlpt's own thin cgo binding to libxl (libxenlight) 4.17.
// The values it passes (devices, domains, error codes) are package xl's, which
// has no cgo; only this package and cmd/xlpt link libxl.
//
// It is written by hand: no Go module for libxl is served to us, and the
// upstream binding (tools/golang/xenlight) lacks pci list/destroy and the
// assignable calls, and panics in DomainInfo on 4.17. The binding is kept
// small on purpose: one Context around one libxl_ctx, C structs that live for
// one call (init or toC, call, deferred dispose), libxl return codes as the
// typed Error, and no finalizers (Close is explicit). libxl is loaded with
// dlopen when a command first needs it (dl.go, libxl_api.h); its calls run
// alongside each other on the one ctx (context.go, logsink.go).
//
// Files:
//
//	errors.go    ErrNoLibxl, ErrClosed (the binding's own errors)
//	probe.go     the dom0 check that names why libxl cannot be opened
//	dl.go        libxl loaded on first use; libxl_api.h names each call as its pointer
//	api.go       the method set both builds must have: xl.Toolstack and Close
//	timed.go     Timed: each libxl call's time at debug level (-vv)
//	lazy.go      Lazy: libxl opened on first use, once (what the command line hands down)
//	context.go, domain.go, host.go, pci.go, convert.go
//	             the cgo binding (linux && cgo)
//	xc.go        libxenctrl: reserved device memory, PoD target
//	logger.go, logbridge.go, logsink.go
//	             xentoollog messages into logrus, and per-call error capture
//	             (by thread and by device, for calls at once)
//	sigchld.go   SIGCHLD forwarding (libxl's main-loop mode)
//	context_stub.go  the build without cgo: every call fails with ErrNoLibxl
//	testhooks.go C helpers for the package's tests only (left out by the
//	             xlpt_release tag the Makefile builds with)
//	qmp/         the QMP clean-up libxl 4.17 leaves undone after a failed attach
package xenlight
