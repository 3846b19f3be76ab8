//go:build linux && cgo

package xenlight

/*
#include <stdlib.h>
#include "libxl_api.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/xlpt/xlpt/xl"
)

// What xlpt's recovery reads and repairs beyond libxl's API: libxl's own
// per-device records in xenstore (/libxl/pci/DDDD-BB-DD-F/{domid,
// driver_path}, see libxl_pci.c's pci_info_xs_*) and Xen's assignment
// (xc_test_assign_device, xc_deassign_device). libxl keeps no lock over
// these, and a libxl killed half-way leaves them out of step with its
// lists; recovery puts them back in step.

const pciInfoPath = "/libxl/pci"

func xsBdf(b xl.PciBdf) string {
	return fmt.Sprintf("%04x-%02x-%02x-%01x", b.Domain, b.Bus, b.Dev, b.Func)
}

func parseXsBdf(s string) (xl.PciBdf, bool) {
	var b xl.PciBdf
	if _, err := fmt.Sscanf(s, "%04x-%02x-%02x-%01x", &b.Domain, &b.Bus, &b.Dev, &b.Func); err != nil {
		return b, false
	}
	return b, true
}

// withXs runs fn with a xenstore handle.
func withXs(fn func(h *C.struct_xs_handle) error) error {
	h, errno := C.xs_open(0)
	if h == nil {
		return &xl.CallError{Func: "xs_open", Err: errno}
	}
	defer C.xs_close(h)
	return fn(h)
}

func xsRead(h *C.struct_xs_handle, p string) (string, bool) {
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	var n C.uint
	v := C.xs_read(h, C.XBT_NULL, cp, &n)
	if v == nil {
		return "", false
	}
	defer C.free(v)
	return C.GoStringN((*C.char)(v), C.int(n)), true
}

// PciXsDomid reads /libxl/pci/BDF/domid, on the context's xenstore
// connection (opened on first use, closed with the context).
func (c *Context) PciXsDomid(b xl.PciBdf) (uint32, bool, error) {
	p := pciInfoPath + "/" + xsBdf(b) + "/domid"
	var v string
	var ok bool
	err := c.runShared(false, nil, func(*C.libxl_ctx, *window) error {
		h, err := c.xenstore()
		if err != nil {
			return err
		}
		v, ok = xsRead(h, p)
		return nil
	})
	if err != nil || !ok {
		return 0, false, err
	}
	id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		// libxl tests the key's presence alone: held, by no domain known.
		return 0, true, nil
	}
	return uint32(id), true, nil
}

// xenstore is the context's own xenstore connection, opened once.
func (c *Context) xenstore() (*C.struct_xs_handle, error) {
	c.xsOnce.Do(func() {
		h, errno := C.xs_open(0)
		if h == nil {
			c.xsErr = &xl.CallError{Func: "xs_open", Err: errno}
			return
		}
		c.xsh = h
	})
	return c.xsh, c.xsErr
}

// PciXsEntries reads every /libxl/pci/BDF record.
func (c *Context) PciXsEntries() ([]xl.PciXsEntry, error) {
	var out []xl.PciXsEntry
	err := withXs(func(h *C.struct_xs_handle) error {
		cp := C.CString(pciInfoPath)
		defer C.free(unsafe.Pointer(cp))
		var n C.uint
		dir, errno := C.xs_directory(h, C.XBT_NULL, cp, &n)
		if dir == nil {
			if errors.Is(errno, syscall.ENOENT) {
				return nil
			}
			return &xl.CallError{Func: "xs_directory " + pciInfoPath, Err: errno}
		}
		defer C.free(unsafe.Pointer(dir))
		for _, cs := range unsafe.Slice(dir, int(n)) {
			name := C.GoString(cs)
			b, ok := parseXsBdf(name)
			if !ok {
				continue
			}
			e := xl.PciXsEntry{BDF: b}
			if v, ok := xsRead(h, pciInfoPath+"/"+name+"/domid"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					e.Domid, e.HasDomid = uint32(id), true
				}
			}
			e.DriverPath, _ = xsRead(h, pciInfoPath+"/"+name+"/driver_path")
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read libxl's device records: %w", err)
	}
	return out, nil
}

// PciXsRemove removes /libxl/pci/BDF/KEY (domid or driver_path).
func (c *Context) PciXsRemove(b xl.PciBdf, key string) error {
	if key != "domid" && key != "driver_path" {
		return fmt.Errorf("libxl record key %q: only domid and driver_path", key)
	}
	p := pciInfoPath + "/" + xsBdf(b) + "/" + key
	return withXs(func(h *C.struct_xs_handle) error {
		cp := C.CString(p)
		defer C.free(unsafe.Pointer(cp))
		if ok, errno := C.xs_rm(h, C.XBT_NULL, cp); !bool(ok) && !errors.Is(errno, syscall.ENOENT) {
			return &xl.CallError{Func: "xs_rm " + p, Err: errno}
		}
		return nil
	})
}

// PciXsSetDriverPath writes /libxl/pci/BDF/driver_path, the driver
// pci-assignable-remove -r binds again.
func (c *Context) PciXsSetDriverPath(b xl.PciBdf, path string) error {
	p := pciInfoPath + "/" + xsBdf(b) + "/driver_path"
	return withXs(func(h *C.struct_xs_handle) error {
		cp, cv := C.CString(p), C.CString(path)
		defer C.free(unsafe.Pointer(cp))
		defer C.free(unsafe.Pointer(cv))
		if ok, errno := C.xs_write(h, C.XBT_NULL, cp, unsafe.Pointer(cv), C.uint(len(path))); !bool(ok) {
			return &xl.CallError{Func: "xs_write " + p, Err: errno}
		}
		return nil
	})
}

func sbdf(b xl.PciBdf) C.uint32_t {
	return C.uint32_t(uint32(b.Domain)<<16 | uint32(b.Bus)<<8 | uint32(b.Dev)<<3 | uint32(b.Func))
}

// PciXenAssigned says whether Xen gives b to a guest: its test passes only
// for a device dom0 or the quarantine (dom_io) owns. The test is asked for
// no domain (DOMID_INVALID): Xen refuses it outright for the caller's own
// domain ("self-assignment"), so asking for dom0 would call every device
// busy.
func (c *Context) PciXenAssigned(b xl.PciBdf) (bool, error) {
	var busy bool
	err := c.run(func(*C.libxl_ctx) error {
		r, _ := C.xc_test_assign_device(c.xch, C.DOMID_INVALID, sbdf(b))
		busy = r != 0
		return nil
	})
	return busy, err
}

// PciXenDeassign takes b from domid in Xen; with iommu=quarantine (the
// default) it goes to dom_io, as after libxl's own remove.
func (c *Context) PciXenDeassign(domid uint32, b xl.PciBdf) error {
	return c.run(func(*C.libxl_ctx) error {
		if r, errno := C.xc_deassign_device(c.xch, C.uint32_t(domid), sbdf(b)); r < 0 {
			return xcErr("xc_deassign_device", errno)
		}
		return nil
	})
}
