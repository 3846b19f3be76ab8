//go:build benchfloor

// Command startfloor is the least any Go tool on libxl can cost to start:
// it links libxenlight as xlpt does, opens a libxl context and closes it,
// and does nothing else. scripts/bench/testbed.sh times it beside
// `xlpt --help`, `xlpt pci-spec` and `xl info` to show what of xlpt's
// time is the language's start-up rather than xlpt's own work. (Behind
// a build tag: the cgo-free packages' build check must not reach it.)
//
//	startfloor
package main

// #cgo pkg-config: xenlight xentoollog
// #include <libxl.h>
import "C"

import (
	"fmt"
	"os"
)

func main() {
	var ctx *C.libxl_ctx
	if rc := C.libxl_ctx_alloc(&ctx, C.LIBXL_VERSION, 0, nil); rc != 0 {
		fmt.Fprintln(os.Stderr, "startfloor: libxl_ctx_alloc failed:", rc)
		os.Exit(1)
	}
	C.libxl_ctx_free(ctx)
}
