//go:build linux && cgo

package xenlight

/*
#include <stdlib.h>
#include "libxl_api.h"
*/
import "C"

import (
	"unsafe"

	"github.com/xlpt/xlpt/xl"
)

// The one place where DevicePci meets libxl_device_pci.
//
// Ownership: the C struct owns its name, as everywhere in libxl:
// libxl_device_pci_dispose frees it. So callers init, toC, call, and defer
// dispose; there is no separate free of the CString.

// toC fills an initialised libxl_device_pci from d.
func devicePciToC(d xl.DevicePci, c *C.libxl_device_pci) {
	c._func = C.uint8_t(d.Func)
	c.dev = C.uint8_t(d.Dev)
	c.bus = C.uint8_t(d.Bus)
	c.domain = C.int(d.Domain)
	c.vdevfn = C.uint32_t(d.Vdevfn)
	c.vfunc_mask = C.uint32_t(d.VfuncMask)
	c.msitranslate = C.bool(d.Msitranslate)
	c.power_mgmt = C.bool(d.PowerMgmt)
	c.permissive = C.bool(d.Permissive)
	c.seize = C.bool(d.Seize)
	c.rdm_policy = C.libxl_rdm_reserve_policy(d.RdmPolicy)
	if c.name != nil {
		C.free(unsafe.Pointer(c.name))
		c.name = nil
	}
	if d.Name != "" {
		c.name = C.CString(d.Name)
	}
}

// devicePciFromC copies a libxl_device_pci into Go memory.
func devicePciFromC(c *C.libxl_device_pci) xl.DevicePci {
	d := xl.DevicePci{
		PciBdf: xl.PciBdf{
			Domain: uint16(c.domain),
			Bus:    uint8(c.bus),
			Dev:    uint8(c.dev),
			Func:   uint8(c._func),
		},
		Vdevfn:       uint32(c.vdevfn),
		VfuncMask:    uint32(c.vfunc_mask),
		Msitranslate: bool(c.msitranslate),
		PowerMgmt:    bool(c.power_mgmt),
		Permissive:   bool(c.permissive),
		Seize:        bool(c.seize),
		RdmPolicy:    xl.RdmPolicy(c.rdm_policy),
	}
	if c.name != nil {
		d.Name = C.GoString(c.name)
	}
	return d
}

// devicePciList copies a C array of n devices; the caller frees the array
// with the list's own _list_free.
func devicePciList(list *C.libxl_device_pci, n C.int) []xl.DevicePci {
	out := make([]xl.DevicePci, 0, int(n))
	if list == nil || n <= 0 {
		return out
	}
	cs := unsafe.Slice(list, int(n))
	for i := range cs {
		out = append(out, devicePciFromC(&cs[i]))
	}
	return out
}
