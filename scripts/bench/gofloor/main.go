//go:build benchfloor

// Command gofloor is the least any Go tool on libxl can cost: it links
// libxenlight as xlpt does and makes the libxl calls xl makes for an
// operation, and nothing else (no checks, no journal, no lock, no
// output). scripts/bench/testbed.sh times it beside xl and xlpt: the
// ratio gofloor/xl is what the language's start-up and cgo cost on this
// host, before any of xlpt's own work; xlpt/gofloor is xlpt's own
// overhead. (Behind a build tag: the cgo-free packages' build check
// must not reach it.) Written against libxl 4.17's libxl_device_pci.
//
//	gofloor                                  open a libxl context and close it
//	gofloor pci-attach DOMAIN SPEC           libxl_device_pci_add, as xl pci-attach
//	gofloor pci-detach DOMAIN SPEC           libxl_device_pci_remove, as xl pci-detach
//	gofloor pci-assignable-add SPEC          libxl_device_pci_assignable_add(rebind=0)
//	gofloor pci-assignable-remove [-r] SPEC  libxl_device_pci_assignable_remove, as xl
package main

// #cgo pkg-config: xenlight xentoollog xlutil
// #include <stdio.h>
// #include <stdlib.h>
// #include <libxl.h>
// #include <libxl_utils.h>
// #include <libxlutil.h>
// #include <xentoollog.h>
//
// static xentoollog_logger *logger(void) {
// 	return (xentoollog_logger *)xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
// }
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

func main() {
	// A logger, as xl has: libxl without one crashes where Xen is absent.
	var ctx *C.libxl_ctx
	if rc := C.libxl_ctx_alloc(&ctx, C.LIBXL_VERSION, 0, C.logger()); rc != 0 {
		fail("libxl_ctx_alloc", rc)
	}
	defer C.libxl_ctx_free(ctx)
	if len(os.Args) == 1 {
		return
	}
	args := os.Args[2:]
	switch op := os.Args[1]; {
	case (op == "pci-attach" || op == "pci-detach") && len(args) == 2:
		domid := domain(ctx, args[0])
		withPci(args[1], func(pci *C.libxl_device_pci) C.int {
			if op == "pci-attach" {
				return C.libxl_device_pci_add(ctx, domid, pci, nil)
			}
			return C.libxl_device_pci_remove(ctx, domid, pci, nil)
		})
	case op == "pci-assignable-add" && len(args) == 1:
		withPci(args[0], func(pci *C.libxl_device_pci) C.int {
			return C.libxl_device_pci_assignable_add(ctx, pci, 0)
		})
	case op == "pci-assignable-remove" && (len(args) == 1 || len(args) == 2 && args[0] == "-r"):
		rebind := C.int(len(args) - 1) // -r: give the device back to its driver, as xl
		withPci(args[len(args)-1], func(pci *C.libxl_device_pci) C.int {
			return C.libxl_device_pci_assignable_remove(ctx, pci, rebind)
		})
	default:
		fmt.Fprintln(os.Stderr, "usage: gofloor [pci-attach|pci-detach DOMAIN SPEC | pci-assignable-add SPEC | pci-assignable-remove [-r] SPEC]")
		os.Exit(2)
	}
}

// domain is libxl_name_to_domid, as xl's find_domain for a name.
func domain(ctx *C.libxl_ctx, name string) C.uint32_t {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var id C.uint32_t
	if rc := C.libxl_name_to_domid(ctx, cs, &id); rc != 0 {
		fail("libxl_name_to_domid "+name, rc)
	}
	return id
}

// withPci parses spec with libxlutil, as xl does, and runs op on it.
func withPci(spec string, op func(*C.libxl_device_pci) C.int) {
	var pci C.libxl_device_pci
	C.libxl_device_pci_init(&pci)
	defer C.libxl_device_pci_dispose(&pci)
	what := C.CString("command line")
	defer C.free(unsafe.Pointer(what))
	cfg := C.xlu_cfg_init(C.stderr, what)
	defer C.xlu_cfg_destroy(cfg)
	cs := C.CString(spec)
	defer C.free(unsafe.Pointer(cs))
	if rc := C.xlu_pci_parse_spec_string(cfg, &pci, cs); rc != 0 {
		fail("xlu_pci_parse_spec_string "+spec, rc)
	}
	if rc := op(&pci); rc != 0 {
		fail(os.Args[1], rc)
	}
}

func fail(what string, rc C.int) {
	fmt.Fprintf(os.Stderr, "gofloor: %s failed: %d\n", what, int(rc))
	os.Exit(1)
}
