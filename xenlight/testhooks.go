//go:build linux && cgo && !xlpt_release

package xenlight

// Helpers for the package's tests, which cannot use cgo themselves
// (_test.go files cannot import "C"). Nothing here is exported, and the
// shipped binary leaves it out: the Makefile builds with xlpt_release.

/*
#include <stdlib.h>
#include <string.h>
#include "libxl_api.h"

// libxl_device_pci_copy wants a ctx only for its allocator: it strdup's
// the name with NOGC, i.e. ctx->nogc_gc, which libxl_ctx_alloc marks "not
// a real gc" by alloc_maxsize = -1 so that nothing is tracked. Without Xen
// we cannot allocate a real ctx; a block of 0xff bytes (far larger than
// libxl_ctx) has that same -1 wherever the field lies. A zeroed block
// would not: libxl would track the name in it, and leak the tracking array.
static void xlpt_device_pci_copy(libxl_ctx *ctx, libxl_device_pci *dst, const libxl_device_pci *src)
{
	void *fake = NULL;

	if (!ctx) {
		fake = malloc(1 << 20);
		if (!fake)
			abort();
		memset(fake, 0xff, 1 << 20);
		ctx = fake;
	}
	libxl_device_pci_copy(ctx, dst, src);
	free(fake);
}

static const libxl_enum_string_table *xlpt_error_table(int *n)
{
	for (*n = 0; libxl_error_string_table[*n].s; (*n)++)
		;
	return libxl_error_string_table;
}
*/
import "C"

import (
	"unsafe"

	"github.com/xlpt/xlpt/xl"
)

// mustLoad loads libxl for a test that calls it without a Context.
func mustLoad() {
	if err := load(); err != nil {
		panic(err)
	}
}

// libxlErrorTable is libxl's own list of error codes and their names
// (libxl_error_string_table, e.g. "domain_notfound" -21).
func libxlErrorTable() map[int]string {
	mustLoad()
	var n C.int
	t := C.xlpt_error_table(&n)
	m := map[int]string{}
	for _, e := range unsafe.Slice(t, int(n)) {
		m[int(e.v)] = C.GoString(e.s)
	}
	return m
}

// cConstants are the C values of the constants Go mirrors, by C name.
func cConstants() map[string]int {
	return map[string]int{
		"ERROR_NONSPECIFIC":                      C.ERROR_NONSPECIFIC,
		"ERROR_VERSION":                          C.ERROR_VERSION,
		"ERROR_FAIL":                             C.ERROR_FAIL,
		"ERROR_NI":                               C.ERROR_NI,
		"ERROR_NOMEM":                            C.ERROR_NOMEM,
		"ERROR_INVAL":                            C.ERROR_INVAL,
		"ERROR_BADFAIL":                          C.ERROR_BADFAIL,
		"ERROR_GUEST_TIMEDOUT":                   C.ERROR_GUEST_TIMEDOUT,
		"ERROR_TIMEDOUT":                         C.ERROR_TIMEDOUT,
		"ERROR_NOPARAVIRT":                       C.ERROR_NOPARAVIRT,
		"ERROR_NOT_READY":                        C.ERROR_NOT_READY,
		"ERROR_OSEVENT_REG_FAIL":                 C.ERROR_OSEVENT_REG_FAIL,
		"ERROR_BUFFERFULL":                       C.ERROR_BUFFERFULL,
		"ERROR_UNKNOWN_CHILD":                    C.ERROR_UNKNOWN_CHILD,
		"ERROR_LOCK_FAIL":                        C.ERROR_LOCK_FAIL,
		"ERROR_JSON_CONFIG_EMPTY":                C.ERROR_JSON_CONFIG_EMPTY,
		"ERROR_DEVICE_EXISTS":                    C.ERROR_DEVICE_EXISTS,
		"ERROR_CHECKPOINT_DEVOPS_DOES_NOT_MATCH": C.ERROR_CHECKPOINT_DEVOPS_DOES_NOT_MATCH,
		"ERROR_CHECKPOINT_DEVICE_NOT_SUPPORTED":  C.ERROR_CHECKPOINT_DEVICE_NOT_SUPPORTED,
		"ERROR_VNUMA_CONFIG_INVALID":             C.ERROR_VNUMA_CONFIG_INVALID,
		"ERROR_DOMAIN_NOTFOUND":                  C.ERROR_DOMAIN_NOTFOUND,
		"ERROR_ABORTED":                          C.ERROR_ABORTED,
		"ERROR_NOTFOUND":                         C.ERROR_NOTFOUND,
		"ERROR_DOMAIN_DESTROYED":                 C.ERROR_DOMAIN_DESTROYED,
		"ERROR_FEATURE_REMOVED":                  C.ERROR_FEATURE_REMOVED,
		"ERROR_PROTOCOL_ERROR_QMP":               C.ERROR_PROTOCOL_ERROR_QMP,
		"ERROR_UNKNOWN_QMP_ERROR":                C.ERROR_UNKNOWN_QMP_ERROR,
		"ERROR_QMP_GENERIC_ERROR":                C.ERROR_QMP_GENERIC_ERROR,
		"ERROR_QMP_COMMAND_NOT_FOUND":            C.ERROR_QMP_COMMAND_NOT_FOUND,
		"ERROR_QMP_DEVICE_NOT_ACTIVE":            C.ERROR_QMP_DEVICE_NOT_ACTIVE,
		"ERROR_QMP_DEVICE_NOT_FOUND":             C.ERROR_QMP_DEVICE_NOT_FOUND,
		"ERROR_QEMU_API":                         C.ERROR_QEMU_API,

		"XTL_NONE":     C.XTL_NONE,
		"XTL_DEBUG":    C.XTL_DEBUG,
		"XTL_VERBOSE":  C.XTL_VERBOSE,
		"XTL_DETAIL":   C.XTL_DETAIL,
		"XTL_PROGRESS": C.XTL_PROGRESS,
		"XTL_INFO":     C.XTL_INFO,
		"XTL_NOTICE":   C.XTL_NOTICE,
		"XTL_WARN":     C.XTL_WARN,
		"XTL_ERROR":    C.XTL_ERROR,
		"XTL_CRITICAL": C.XTL_CRITICAL,

		"LIBXL_RDM_RESERVE_POLICY_INVALID":  C.LIBXL_RDM_RESERVE_POLICY_INVALID,
		"LIBXL_RDM_RESERVE_POLICY_STRICT":   C.LIBXL_RDM_RESERVE_POLICY_STRICT,
		"LIBXL_RDM_RESERVE_POLICY_RELAXED":  C.LIBXL_RDM_RESERVE_POLICY_RELAXED,
		"LIBXL_RDM_RESERVE_STRATEGY_IGNORE": C.LIBXL_RDM_RESERVE_STRATEGY_IGNORE,
		"LIBXL_RDM_RESERVE_STRATEGY_HOST":   C.LIBXL_RDM_RESERVE_STRATEGY_HOST,
		"LIBXL_PCI_FUNC_ALL":                int(C.LIBXL_PCI_FUNC_ALL),

		"LIBXL_DOMAIN_TYPE_INVALID": C.LIBXL_DOMAIN_TYPE_INVALID,
		"LIBXL_DOMAIN_TYPE_HVM":     C.LIBXL_DOMAIN_TYPE_HVM,
		"LIBXL_DOMAIN_TYPE_PV":      C.LIBXL_DOMAIN_TYPE_PV,
		"LIBXL_DOMAIN_TYPE_PVH":     C.LIBXL_DOMAIN_TYPE_PVH,

		"LIBXL_PASSTHROUGH_DEFAULT":  C.LIBXL_PASSTHROUGH_DEFAULT,
		"LIBXL_PASSTHROUGH_DISABLED": C.LIBXL_PASSTHROUGH_DISABLED,
		"LIBXL_PASSTHROUGH_ENABLED":  C.LIBXL_PASSTHROUGH_ENABLED,
		"LIBXL_PASSTHROUGH_SYNC_PT":  C.LIBXL_PASSTHROUGH_SYNC_PT,
		"LIBXL_PASSTHROUGH_SHARE_PT": C.LIBXL_PASSTHROUGH_SHARE_PT,

		"LIBXL_DEVICE_MODEL_VERSION_UNKNOWN":              C.LIBXL_DEVICE_MODEL_VERSION_UNKNOWN,
		"LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL": C.LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN_TRADITIONAL,
		"LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN":             C.LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN,

		"LIBXL_SHUTDOWN_REASON_UNKNOWN":    C.LIBXL_SHUTDOWN_REASON_UNKNOWN,
		"LIBXL_SHUTDOWN_REASON_POWEROFF":   C.LIBXL_SHUTDOWN_REASON_POWEROFF,
		"LIBXL_SHUTDOWN_REASON_REBOOT":     C.LIBXL_SHUTDOWN_REASON_REBOOT,
		"LIBXL_SHUTDOWN_REASON_SUSPEND":    C.LIBXL_SHUTDOWN_REASON_SUSPEND,
		"LIBXL_SHUTDOWN_REASON_CRASH":      C.LIBXL_SHUTDOWN_REASON_CRASH,
		"LIBXL_SHUTDOWN_REASON_WATCHDOG":   C.LIBXL_SHUTDOWN_REASON_WATCHDOG,
		"LIBXL_SHUTDOWN_REASON_SOFT_RESET": C.LIBXL_SHUTDOWN_REASON_SOFT_RESET,
	}
}

// devicePciInitDefaults is what libxl_device_pci_init leaves in the struct.
func devicePciInitDefaults() xl.DevicePci {
	mustLoad()
	var c C.libxl_device_pci
	C.libxl_device_pci_init(&c)
	defer C.libxl_device_pci_dispose(&c)
	return devicePciFromC(&c)
}

// devicePciCopyViaLibxl takes d through toC, libxl_device_pci_copy and
// devicePciFromC, so libxl itself reads and writes the fields. ctx may be
// nil; then a stand-in is used (see xlpt_device_pci_copy).
func devicePciCopyViaLibxl(ctx *Context, d xl.DevicePci) xl.DevicePci {
	mustLoad()
	var cctx *C.libxl_ctx
	if ctx != nil {
		cctx = ctx.ctx
	}
	var src, dst C.libxl_device_pci
	C.libxl_device_pci_init(&src)
	defer C.libxl_device_pci_dispose(&src)
	C.libxl_device_pci_init(&dst)
	defer C.libxl_device_pci_dispose(&dst)
	devicePciToC(d, &src)
	C.xlpt_device_pci_copy(cctx, &dst, &src)
	return devicePciFromC(&dst)
}

// devicePciToCTwice fills one struct twice: toC must replace (and free)
// the first name, and dispose must then free the second exactly once.
func devicePciToCTwice(first, second xl.DevicePci) xl.DevicePci {
	mustLoad()
	var c C.libxl_device_pci
	C.libxl_device_pci_init(&c)
	defer C.libxl_device_pci_dispose(&c)
	devicePciToC(first, &c)
	devicePciToC(second, &c)
	return devicePciFromC(&c)
}

// devicePciListViaC lays ds out as a C array, as libxl returns lists, and
// reads it back with devicePciList; the array is freed with
// libxl_device_pci_list_free as a libxl list would be.
func devicePciListViaC(ds []xl.DevicePci) []xl.DevicePci {
	mustLoad()
	n := len(ds)
	if n == 0 {
		return devicePciList(nil, 0)
	}
	list := (*C.libxl_device_pci)(C.calloc(C.size_t(n), C.sizeof_libxl_device_pci))
	cs := unsafe.Slice(list, n)
	for i := range cs {
		C.libxl_device_pci_init(&cs[i])
		devicePciToC(ds[i], &cs[i])
	}
	defer C.libxl_device_pci_list_free(list, C.int(n))
	return devicePciList(list, C.int(n))
}
