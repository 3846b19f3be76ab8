//go:build linux && cgo

package xenlight

/*
#include "libxl_api.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/xlpt/xlpt/xl"
)

// Calls into libxenctrl, for what libxl does not expose. They take the
// Context's mutex too, so their log messages are attributed like libxl's.

// xcErr turns a failed libxenctrl call's errno into a CallError.
func xcErr(fn string, errno error) error {
	if errno == nil {
		errno = errors.New("failed, errno not set")
	}
	return &xl.CallError{Func: fn, Err: errno}
}

// ReservedDeviceMemory lists every reserved device memory region of the
// platform (VT-d RMRRs, AMD IVMDs) as Xen knows them (XENMEM_RDM_ALL).
func (c *Context) ReservedDeviceMemory() ([]xl.RdmRegion, error) {
	r, err := c.rdmMap(C.XENMEM_RDM_ALL, xl.PciBdf{})
	if err != nil {
		return nil, fmt.Errorf("reserved device memory: %w", err)
	}
	return r, nil
}

// DeviceReservedMemory lists the reserved regions that device b uses.
func (c *Context) DeviceReservedMemory(b xl.PciBdf) ([]xl.RdmRegion, error) {
	r, err := c.rdmMap(0, b)
	if err != nil {
		return nil, fmt.Errorf("reserved device memory of %s: %w", b, err)
	}
	return r, nil
}

// rdmMap asks for the count first, as libxl does: Xen answers a too-small
// buffer with ENOBUFS (the header comment says ERANGE) and the count
// needed. It retries in case the count grows in between.
func (c *Context) rdmMap(flags C.uint32_t, b xl.PciBdf) ([]xl.RdmRegion, error) {
	var out []xl.RdmRegion
	err := c.runShared(false, nil, func(*C.libxl_ctx, *window) error {
		var n C.uint32_t
		var buf []C.struct_xen_reserved_device_memory
		devfn := C.uint8_t(b.Dev<<3 | b.Func&7)
		for try := 0; try < 4; try++ {
			var p *C.struct_xen_reserved_device_memory
			if len(buf) > 0 {
				p = &buf[0]
			}
			n = C.uint32_t(len(buf))
			r, errno := C.xc_reserved_device_memory_map(c.xch, flags, C.uint16_t(b.Domain), C.uint8_t(b.Bus), devfn, p, &n)
			if r == 0 {
				out = make([]xl.RdmRegion, 0, int(n))
				for _, e := range buf[:min(int(n), len(buf))] {
					out = append(out, xl.RdmRegion{StartPFN: uint64(e.start_pfn), NrPages: uint64(e.nr_pages)})
				}
				return nil
			}
			if !errors.Is(errno, syscall.ENOBUFS) && !errors.Is(errno, syscall.ERANGE) {
				return xcErr("xc_reserved_device_memory_map", errno)
			}
			buf = make([]C.struct_xen_reserved_device_memory, int(n))
		}
		return xcErr("xc_reserved_device_memory_map", fmt.Errorf("region count kept changing (last %d)", n))
	})
	return out, err
}

// PodTarget reads a domain's populate-on-demand counters.
func (c *Context) PodTarget(domid uint32) (xl.PodTarget, error) {
	var pt xl.PodTarget
	err := c.runShared(false, nil, func(*C.libxl_ctx, *window) error {
		var tot, cache, entries C.uint64_t
		if r, errno := C.xc_domain_get_pod_target(c.xch, C.uint32_t(domid), &tot, &cache, &entries); r < 0 {
			return xcErr("xc_domain_get_pod_target", errno)
		}
		pt = xl.PodTarget{TotPages: uint64(tot), PodCachePages: uint64(cache), PodEntries: uint64(entries)}
		return nil
	})
	if err != nil {
		return xl.PodTarget{}, fmt.Errorf("domain %d: pod target: %w", domid, err)
	}
	return pt, nil
}
