//go:build linux && cgo

package xenlight

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "libxl_api.h"

struct xlpt_syms xlpt_sym;

// xlpt_dl_load opens libxenlight (soname), which brings the libraries it
// links, and fills xlpt_sym from it; NULL, or what failed.
static const char *xlpt_dl_load(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		return dlerror();
	// dlsym on the handle searches libxenlight and the libraries it links.
#define XLPT_SYM_LOAD(name) \
	if (!(xlpt_sym.p_##name = dlsym(h, #name))) \
		return "no " #name " in it";
	XLPT_SYMS(XLPT_SYM_LOAD)
#undef XLPT_SYM_LOAD
	return NULL;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// libxenlight is the soname of the libxl the binary was built against:
// the Makefile sets it (-X, from scripts/xen-soname: libxenlight.so.4.17
// on Debian 12, .4.20 on Debian 13). A build without it (go test, go
// build) loads the development link, libxenlight.so, which is there
// wherever the headers it was built with are.
var libxenlight string

var loaded struct {
	once sync.Once
	err  error
}

// load makes libxl callable, the first time: the calls of the binding go
// through pointers dlsym fills (libxl_api.h).
func load() error {
	loaded.once.Do(func() {
		name := libxenlight
		if name == "" {
			name = "libxenlight.so"
		}
		cname := C.CString(name)
		defer C.free(unsafe.Pointer(cname))
		if msg := C.xlpt_dl_load(cname); msg != nil {
			loaded.err = fmt.Errorf("load libxl (%s): %s", name, C.GoString(msg))
		}
	})
	return loaded.err
}
