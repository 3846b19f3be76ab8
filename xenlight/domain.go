//go:build linux && cgo

package xenlight

/*
#include <stdlib.h>
#include "libxl_api.h"

// cgo cannot reach into the b_info.u union; these read the HVM member,
// valid only when b->type is LIBXL_DOMAIN_TYPE_HVM.
static libxl_rdm_reserve xlpt_hvm_rdm(const libxl_domain_build_info *b)
{
	return b->u.hvm.rdm;
}

static uint64_t xlpt_hvm_mmio_hole_memkb(const libxl_domain_build_info *b)
{
	return b->u.hvm.mmio_hole_memkb;
}

// disable_migrate is a defbool; libxl has set it by the time it stores
// the configuration, but an old one may lack it.
static int xlpt_disable_migrate(libxl_domain_build_info *b)
{
	return !libxl_defbool_is_default(b->disable_migrate) && libxl_defbool_val(b->disable_migrate);
}

static uint64_t xlpt_hvm_rdm_mem_boundary_memkb(const libxl_domain_build_info *b)
{
	return b->u.hvm.rdm_mem_boundary_memkb;
}
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/xlpt/xlpt/xl"
)

// DomainQualifierToID resolves a domain as xl does: all digits is a domid,
// anything else a name (libxl_domain_qualifier_to_domid). Unlike xl it also
// checks that the domain exists, so a typo fails here and not later with a
// less clear error (pci-list of a missing domain would print nothing).
func (c *Context) DomainQualifierToID(q string) (uint32, error) {
	if q == "" {
		return 0, fmt.Errorf("domain %q: empty domain name or id: %w", q, xl.ErrInval)
	}
	numeric := true
	for _, r := range q {
		if r < '0' || r > '9' {
			numeric = false
			break
		}
	}
	if numeric {
		// libxl's strtoul would wrap; refuse instead.
		if _, err := strconv.ParseUint(q, 10, 32); err != nil {
			return 0, fmt.Errorf("domain %q: domain id out of range: %w", q, xl.ErrInval)
		}
	}
	var domid uint32
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, _ *window) error {
		cq := C.CString(q)
		defer C.free(unsafe.Pointer(cq))
		var id C.uint32_t
		if err := libxlErr("libxl_domain_qualifier_to_domid", C.libxl_domain_qualifier_to_domid(ctx, cq, &id)); err != nil {
			return err
		}
		domid = uint32(id)
		if !numeric {
			return nil // libxl_name_to_domid found it among the domains
		}
		return libxlErr("libxl_domain_info", C.libxl_domain_info(ctx, nil, id))
	})
	if err == nil {
		return domid, nil
	}
	// libxl_name_to_domid says ERROR_INVAL when no domain has the name.
	// Reported as not found, and without wrapping the ERROR_INVAL, which
	// callers take for malformed input.
	if !numeric && errors.Is(err, xl.ErrInval) {
		return 0, fmt.Errorf("domain %q: %w (%v)", q, xl.ErrDomainNotFound, err)
	}
	return 0, fmt.Errorf("domain %q: %w", q, err)
}

// DomainInfo describes one domain. A missing domain gives an error matching
// ErrDomainNotFound.
func (c *Context) DomainInfo(domid uint32) (xl.DomainInfo, error) {
	var info xl.DomainInfo
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, _ *window) error {
		var ci C.libxl_dominfo
		C.libxl_dominfo_init(&ci)
		defer C.libxl_dominfo_dispose(&ci)
		if err := libxlErr("libxl_domain_info", C.libxl_domain_info(ctx, &ci, C.uint32_t(domid))); err != nil {
			return err
		}
		info = domainInfoFromC(&ci)
		info.Name = domidToName(ctx, ci.domid)
		return nil
	})
	if err != nil {
		return xl.DomainInfo{}, fmt.Errorf("domain %d: %w", domid, err)
	}
	return info, nil
}

// DomainPause pauses a domain (xl pause); Xen counts pauses.
func (c *Context) DomainPause(domid uint32) error {
	err := c.run(func(ctx *C.libxl_ctx) error {
		return libxlErr("libxl_domain_pause", C.libxl_domain_pause(ctx, C.uint32_t(domid), nil))
	})
	if err != nil {
		return fmt.Errorf("pause domain %d: %w", domid, err)
	}
	return nil
}

// DomainUnpause ends one pause of a domain (xl unpause).
func (c *Context) DomainUnpause(domid uint32) error {
	err := c.run(func(ctx *C.libxl_ctx) error {
		return libxlErr("libxl_domain_unpause", C.libxl_domain_unpause(ctx, C.uint32_t(domid), nil))
	})
	if err != nil {
		return fmt.Errorf("unpause domain %d: %w", domid, err)
	}
	return nil
}

// ListDomains describes every domain, dom0 included, in domid order.
func (c *Context) ListDomains() ([]xl.DomainInfo, error) {
	var out []xl.DomainInfo
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, _ *window) error {
		var n C.int
		list := C.libxl_list_domain(ctx, &n)
		if list == nil {
			return &xl.CallError{Func: "libxl_list_domain", Err: xl.ErrFail}
		}
		defer C.libxl_dominfo_list_free(list, n)
		cs := unsafe.Slice(list, int(n))
		out = make([]xl.DomainInfo, 0, len(cs))
		for i := range cs {
			d := domainInfoFromC(&cs[i])
			d.Name = domidToName(ctx, cs[i].domid)
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return out, nil
}

// domidToName is "" for a domain without a name (or gone meanwhile).
func domidToName(ctx *C.libxl_ctx, domid C.libxl_domid) string {
	p := C.libxl_domid_to_name(ctx, C.uint32_t(domid))
	if p == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}

func domainInfoFromC(ci *C.libxl_dominfo) xl.DomainInfo {
	d := xl.DomainInfo{
		Domid:            uint32(ci.domid),
		Type:             xl.DomainType(ci.domain_type),
		ShutdownReason:   xl.ShutdownReason(ci.shutdown_reason),
		CurrentMemKB:     uint64(ci.current_memkb),
		MaxMemKB:         uint64(ci.max_memkb),
		OutstandingMemKB: uint64(ci.outstanding_memkb),
		SharedMemKB:      uint64(ci.shared_memkb),
		PagedMemKB:       uint64(ci.paged_memkb),
		CPUTime:          time.Duration(ci.cpu_time),
		VcpuMaxID:        uint32(ci.vcpu_max_id),
		VcpuOnline:       uint32(ci.vcpu_online),
		Cpupool:          uint32(ci.cpupool),
		GpaddrBits:       uint8(ci.gpaddr_bits),
		SSIDRef:          uint32(ci.ssidref),
		NeverStop:        bool(ci.never_stop),
	}
	for i, b := range ci.uuid.uuid {
		d.UUID[i] = byte(b)
	}
	for _, f := range []struct {
		on C.bool
		s  xl.DomainState
	}{
		{ci.running, xl.StateRunning}, {ci.blocked, xl.StateBlocked}, {ci.paused, xl.StatePaused},
		{ci.shutdown, xl.StateShutdown}, {ci.dying, xl.StateDying},
	} {
		if f.on {
			d.State |= f.s
		}
	}
	return d
}

// DomainConfig reads a guest's stored configuration
// (libxl_retrieve_domain_configuration), including devices hot-plugged
// since creation. libxl keeps none for dom0, so dom0 gives an error.
func (c *Context) DomainConfig(domid uint32) (xl.DomainConfig, error) {
	var cfg xl.DomainConfig
	// An asynchronous operation when libxl retrieves (ao_how NULL).
	err := c.runShared(true, nil, func(ctx *C.libxl_ctx, _ *window) error {
		var dc C.libxl_domain_config
		C.libxl_domain_config_init(&dc)
		defer C.libxl_domain_config_dispose(&dc)
		if storedConfig(ctx, domid, &dc) {
			cfg = domainConfigFromC(&dc)
			return nil
		}
		C.libxl_domain_config_dispose(&dc)
		C.libxl_domain_config_init(&dc)
		rc := C.libxl_retrieve_domain_configuration(ctx, C.uint32_t(domid), &dc, nil)
		if err := libxlErr("libxl_retrieve_domain_configuration", rc); err != nil {
			return err
		}
		cfg = domainConfigFromC(&dc)
		return nil
	})
	if err != nil {
		return xl.DomainConfig{}, fmt.Errorf("domain %d: configuration: %w", domid, err)
	}
	return cfg, nil
}

// storedConfig reads the configuration libxl stored for the domain (its
// "libxl-json" userdata, which libxl rewrites itself when a PCI device is
// added or removed) without libxl_retrieve_domain_configuration's refresh
// of every device class from xenstore and, for HVM guests, QEMU: on the
// testbed that refresh cost more than the hot-plug itself. What xlpt
// reads (type, passthrough, memory and maxmem as created, device model,
// RDM, MMIO hole, PCI devices) is set at creation or kept by libxl.
// False when nothing is stored (then the caller retrieves).
func storedConfig(ctx *C.libxl_ctx, domid uint32, dc *C.libxl_domain_config) bool {
	key := C.CString("libxl-json")
	defer C.free(unsafe.Pointer(key))
	var data *C.uint8_t
	var n C.int
	if C.libxl_userdata_retrieve(ctx, C.uint32_t(domid), key, &data, &n) != 0 || data == nil {
		return false
	}
	defer C.free(unsafe.Pointer(data))
	js := bytes.TrimRight(C.GoBytes(unsafe.Pointer(data), n), "\x00")
	if len(js) == 0 {
		return false
	}
	s := C.CString(string(js))
	defer C.free(unsafe.Pointer(s))
	return C.libxl_domain_config_from_json(ctx, dc, s) == 0
}

func domainConfigFromC(dc *C.libxl_domain_config) xl.DomainConfig {
	b := &dc.b_info
	cfg := xl.DomainConfig{
		Type:               xl.DomainType(dc.c_info._type),
		Passthrough:        xl.Passthrough(dc.c_info.passthrough),
		DeviceModelVersion: xl.DeviceModelVersion(b.device_model_version),
		TargetMemKB:        uint64(b.target_memkb),
		MaxMemKB:           uint64(b.max_memkb),
		Pcidevs:            devicePciList(dc.pcidevs, dc.num_pcidevs),
		VnumaNodes:         int(b.num_vnuma_nodes),
		NoMigrate:          C.xlpt_disable_migrate(b) != 0,
	}
	if dc.c_info.name != nil {
		cfg.Name = C.GoString(dc.c_info.name)
	}
	if b._type == C.LIBXL_DOMAIN_TYPE_HVM {
		rdm := C.xlpt_hvm_rdm(b)
		cfg.Rdm = xl.RdmReserve{Strategy: xl.RdmStrategy(rdm.strategy), Policy: xl.RdmPolicy(rdm.policy)}
		cfg.RdmMemBoundaryKB = uint64(C.xlpt_hvm_rdm_mem_boundary_memkb(b))
		cfg.MMIOHoleKB = uint64(C.xlpt_hvm_mmio_hole_memkb(b))
		cfg.VideoMemKB = uint64(b.video_memkb)
	}
	return cfg
}
