//go:build linux && cgo

// Package xlu calls Debian's libxlutil 4.17 itself. It exists only as the
// oracle for xlpt's differential tests: our parsers must read what
// libxlutil reads. Nothing in xlpt proper imports it.
package xlu

/*
#cgo pkg-config: xenlight xlutil xentoollog
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <libxl.h>
#include <libxlutil.h>

// parse_spec runs xlu_pci_parse_spec_string on a freshly initialised
// libxl_device_pci, capturing what libxlutil prints in *msg (malloc'd).
static int parse_spec(const char *s, libxl_device_pci *pci, char **msg) {
	size_t len = 0;
	FILE *report = open_memstream(msg, &len);
	XLU_Config *cfg = xlu_cfg_init(report, "spec");
	libxl_device_pci_init(pci);
	int rc = xlu_pci_parse_spec_string(cfg, pci, s);
	xlu_cfg_destroy(cfg);
	fclose(report);
	return rc;
}

static int parse_bdf(const char *s, libxl_device_pci *pci) {
	libxl_device_pci_init(pci);
	return xlu_pci_parse_bdf(NULL, pci, s);
}

static int rdm_parse(const char *s, libxl_rdm_reserve *rdm, int policy_init) {
	libxl_rdm_reserve_init(rdm);
	rdm->policy = policy_init;
	return xlu_rdm_parse(NULL, rdm, s);
}
*/
import "C"

import (
	"unsafe"

	"github.com/xlpt/xlpt/xenlight"
)

// Result is libxlutil's answer for one input.
type Result struct {
	RC      int // 0 accepted, else a libxl ERROR_* code
	Dev     xenlight.DevicePci
	Message string // what libxlutil printed to its report stream
}

func fromC(p *C.libxl_device_pci) xenlight.DevicePci {
	d := xenlight.DevicePci{
		PciBdf: xenlight.PciBdf{Domain: uint16(p.domain), Bus: uint8(p.bus),
			Dev: uint8(p.dev), Func: uint8(p._func)},
		Vdevfn: uint32(p.vdevfn), VfuncMask: uint32(p.vfunc_mask),
		Msitranslate: bool(p.msitranslate), PowerMgmt: bool(p.power_mgmt),
		Permissive: bool(p.permissive), Seize: bool(p.seize),
		RdmPolicy: xenlight.RdmPolicy(p.rdm_policy),
	}
	if p.name != nil {
		d.Name = C.GoString(p.name)
	}
	return d
}

// ParseSpec runs xlu_pci_parse_spec_string. The caller must not pass
// strings with NUL bytes, nor specs on which xlu's behaviour is undefined.
func ParseSpec(s string) Result {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var pci C.libxl_device_pci
	var msg *C.char
	rc := C.parse_spec(cs, &pci, &msg)
	defer C.libxl_device_pci_dispose(&pci)
	r := Result{RC: int(rc), Dev: fromC(&pci)}
	if msg != nil {
		r.Message = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return r
}

// ParseBdf runs xlu_pci_parse_bdf.
func ParseBdf(s string) Result {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var pci C.libxl_device_pci
	rc := C.parse_bdf(cs, &pci)
	defer C.libxl_device_pci_dispose(&pci)
	return Result{RC: int(rc), Dev: fromC(&pci)}
}

// RdmParse runs xlu_rdm_parse on a libxl_rdm_reserve whose policy starts
// as policyInit (xl leaves it uninitialised; tests pick a marker value).
func RdmParse(s string, policyInit int) (rc int, r xenlight.RdmReserve) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var rdm C.libxl_rdm_reserve
	rc = int(C.rdm_parse(cs, &rdm, C.int(policyInit)))
	return rc, xenlight.RdmReserve{Strategy: xenlight.RdmStrategy(rdm.strategy), Policy: xenlight.RdmPolicy(rdm.policy)}
}
