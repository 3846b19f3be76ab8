//go:build linux && cgo

package xenlight

/*
#include "libxl_api.h"
*/
import "C"

import (
	"fmt"

	"github.com/xlpt/xlpt/xl"
)

// PCI calls. All are synchronous (ao_how = NULL): they return when libxl
// has finished, which for remove can take libxl's 10 s QMP timeout. Adds,
// removes and the lists run alongside each other (Context).

// pciFunc is the signature shared by libxl_device_pci_add/remove/destroy.
type pciFunc func(ctx *C.libxl_ctx, domid C.uint32_t, d *C.libxl_device_pci) C.int

func (c *Context) pciOp(name string, fn pciFunc, domid uint32, d xl.DevicePci) error {
	return c.runShared(true, []xl.PciBdf{d.PciBdf}, func(ctx *C.libxl_ctx, _ *window) error {
		var cd C.libxl_device_pci
		C.libxl_device_pci_init(&cd)
		defer C.libxl_device_pci_dispose(&cd)
		devicePciToC(d, &cd)
		return libxlErr(name, fn(ctx, C.uint32_t(domid), &cd))
	})
}

// PciAdd attaches d to a running domain (xl pci-attach).
func (c *Context) PciAdd(domid uint32, d xl.DevicePci) error {
	err := c.pciOp("libxl_device_pci_add", func(ctx *C.libxl_ctx, id C.uint32_t, p *C.libxl_device_pci) C.int {
		return C.libxl_device_pci_add(ctx, id, p, nil)
	}, domid, d)
	if err != nil {
		return fmt.Errorf("pci add %s to domain %d: %w", label(d), domid, err)
	}
	return nil
}

// PciRemove detaches d gracefully; the guest must acknowledge the unplug
// (xl pci-detach).
func (c *Context) PciRemove(domid uint32, d xl.DevicePci) error {
	err := c.pciOp("libxl_device_pci_remove", func(ctx *C.libxl_ctx, id C.uint32_t, p *C.libxl_device_pci) C.int {
		return C.libxl_device_pci_remove(ctx, id, p, nil)
	}, domid, d)
	if err != nil {
		return fmt.Errorf("pci remove %s from domain %d: %w", label(d), domid, err)
	}
	return nil
}

// PciDestroy detaches d without waiting for the guest (xl pci-detach -f).
func (c *Context) PciDestroy(domid uint32, d xl.DevicePci) error {
	err := c.pciOp("libxl_device_pci_destroy", func(ctx *C.libxl_ctx, id C.uint32_t, p *C.libxl_device_pci) C.int {
		return C.libxl_device_pci_destroy(ctx, id, p, nil)
	}, domid, d)
	if err != nil {
		return fmt.Errorf("pci destroy %s in domain %d: %w", label(d), domid, err)
	}
	return nil
}

// PciList gives the devices attached to a domain, empty (not nil) if none.
// libxl lists nothing for a domain that does not exist either, so the
// domain is checked first.
func (c *Context) PciList(domid uint32) ([]xl.DevicePci, error) {
	var out []xl.DevicePci
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, _ *window) error {
		if err := libxlErr("libxl_domain_info", C.libxl_domain_info(ctx, nil, C.uint32_t(domid))); err != nil {
			return err
		}
		var n C.int
		list := C.libxl_device_pci_list(ctx, C.uint32_t(domid), &n)
		if list != nil {
			defer C.libxl_device_pci_list_free(list, n)
		}
		out = devicePciList(list, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pci list of domain %d: %w", domid, err)
	}
	// libxl's list does not fill vfunc_mask (xenstore does not keep it);
	// each entry is one function, so say so.
	for i := range out {
		if out[i].VfuncMask == 0 {
			out[i].VfuncMask = 1
		}
	}
	return out, nil
}

// PciAssignableAdd binds d to pciback and quarantines it (xl
// pci-assignable-add). With rebind, libxl records the current driver so
// that PciAssignableRemove can give the device back to it.
func (c *Context) PciAssignableAdd(d xl.DevicePci, rebind bool) error {
	err := c.run(func(ctx *C.libxl_ctx) error {
		var cd C.libxl_device_pci
		C.libxl_device_pci_init(&cd)
		defer C.libxl_device_pci_dispose(&cd)
		devicePciToC(d, &cd)
		return libxlErr("libxl_device_pci_assignable_add", C.libxl_device_pci_assignable_add(ctx, &cd, cBool(rebind)))
	})
	if err != nil {
		return fmt.Errorf("pci assignable add %s: %w", label(d), err)
	}
	return nil
}

// PciAssignableRemove takes d out of quarantine and off pciback (xl
// pci-assignable-remove); with rebind it rebinds the recorded driver. d may
// name the device by Name alone.
func (c *Context) PciAssignableRemove(d xl.DevicePci, rebind bool) error {
	err := c.run(func(ctx *C.libxl_ctx) error {
		var cd C.libxl_device_pci
		C.libxl_device_pci_init(&cd)
		defer C.libxl_device_pci_dispose(&cd)
		devicePciToC(d, &cd)
		return libxlErr("libxl_device_pci_assignable_remove", C.libxl_device_pci_assignable_remove(ctx, &cd, cBool(rebind)))
	})
	if err != nil {
		return fmt.Errorf("pci assignable remove %s: %w", label(d), err)
	}
	return nil
}

// PciAssignableList gives the devices bound to pciback and not given to a
// domain, with their names (xl pci-assignable-list). libxl returns an
// empty list both when there are none and when pciback is not loaded; the
// latter is an error here, recognised by the error libxl logs.
func (c *Context) PciAssignableList() ([]xl.DevicePci, error) {
	var out []xl.DevicePci
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, w *window) error {
		var n C.int
		list := C.libxl_device_pci_assignable_list(ctx, &n)
		if list != nil {
			defer C.libxl_device_pci_assignable_list_free(list, n)
		} else if c.sink.failed(w) {
			return &xl.CallError{Func: "libxl_device_pci_assignable_list", Err: xl.ErrFail}
		}
		out = devicePciList(list, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pci assignable list: %w", err)
	}
	return out, nil
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// label names d in errors: by BDF, by name when given only a name (libxl
// resolves it), or both.
func label(d xl.DevicePci) string {
	switch {
	case d.Name == "":
		return d.PciBdf.String()
	case d.PciBdf == xl.PciBdf{}:
		return fmt.Sprintf("%q", d.Name)
	}
	return fmt.Sprintf("%s (%q)", d.PciBdf, d.Name)
}
