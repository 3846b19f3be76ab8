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

// read_data parses an xl.cfg held in memory; *msg gets the report.
static XLU_Config *read_data(const char *data, int len, int *rc, char **msg) {
	size_t mlen = 0;
	FILE *report = open_memstream(msg, &mlen);
	XLU_Config *cfg = xlu_cfg_init(report, "cfg");
	*rc = xlu_cfg_readdata(cfg, data, len);
	fflush(report);
	return cfg;
}

static int rdm_parse(const char *s, libxl_rdm_reserve *rdm, int policy_init) {
	libxl_rdm_reserve_init(rdm);
	rdm->policy = policy_init;
	return xlu_rdm_parse(NULL, rdm, s);
}
*/
import "C"

import (
	"errors"
	"syscall"
	"unsafe"

	"github.com/xlpt/xlpt/xl"
)

// Result is libxlutil's answer for one input.
type Result struct {
	RC      int // 0 accepted, else a libxl ERROR_* code
	Dev     xl.DevicePci
	Message string // what libxlutil printed to its report stream
}

func fromC(p *C.libxl_device_pci) xl.DevicePci {
	d := xl.DevicePci{
		PciBdf: xl.PciBdf{Domain: uint16(p.domain), Bus: uint8(p.bus),
			Dev: uint8(p.dev), Func: uint8(p._func)},
		Vdevfn: uint32(p.vdevfn), VfuncMask: uint32(p.vfunc_mask),
		Msitranslate: bool(p.msitranslate), PowerMgmt: bool(p.power_mgmt),
		Permissive: bool(p.permissive), Seize: bool(p.seize),
		RdmPolicy: xl.RdmPolicy(p.rdm_policy),
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
func RdmParse(s string, policyInit int) (rc int, r xl.RdmReserve) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var rdm C.libxl_rdm_reserve
	rc = int(C.rdm_parse(cs, &rdm, C.int(policyInit)))
	return rc, xl.RdmReserve{Strategy: xl.RdmStrategy(rdm.strategy), Policy: xl.RdmPolicy(rdm.policy)}
}

// Value is one xl.cfg value as libxlutil holds it: a string, or a list.
type Value struct {
	IsList bool
	Str    string
	List   []Value
}

// Config is a parsed xl.cfg; Close frees it.
type Config struct {
	cfg *C.XLU_Config
	// RC is xlu_cfg_readdata's result (0: parsed) and Message what it
	// reported.
	RC      int
	Message string
}

// ReadData runs xlu_cfg_readdata on data.
func ReadData(data string) *Config {
	cs := C.CString(data)
	defer C.free(unsafe.Pointer(cs))
	var rc C.int
	var msg *C.char
	cfg := C.read_data(cs, C.int(len(data)), &rc, &msg)
	c := &Config{cfg: cfg, RC: int(rc)}
	if msg != nil {
		c.Message = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return c
}

func (c *Config) Close() { C.xlu_cfg_destroy(c.cfg) }

// Get returns the value libxlutil's lookups find for name.
func (c *Config) Get(name string) (Value, bool) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var list *C.XLU_ConfigList
	var n C.int
	rc := C.xlu_cfg_get_list(c.cfg, cn, &list, &n, 1)
	if rc == 0 {
		return listValue(list), true
	}
	if syscall.Errno(rc) == syscall.ESRCH {
		return Value{}, false
	}
	var s *C.char
	if rc := C.xlu_cfg_get_string(c.cfg, cn, &s, 1); rc != 0 {
		panic(errors.New("xlu: setting is neither list nor string"))
	}
	return Value{Str: C.GoString(s)}, true
}

// listValue walks a list (its length is opaque: items run out at NULL).
func listValue(list *C.XLU_ConfigList) Value {
	v := Value{IsList: true, List: []Value{}}
	for i := 0; ; i++ {
		item := C.xlu_cfg_get_listitem2(list, C.int(i))
		if item == nil {
			break
		}
		if C.xlu_cfg_value_type(item) == C.XLU_LIST {
			var sub *C.XLU_ConfigList
			C.xlu_cfg_value_get_list(nil, item, &sub, 1)
			v.List = append(v.List, listValue(sub))
			continue
		}
		var s *C.char
		C.xlu_cfg_value_get_string(nil, item, &s, 1)
		v.List = append(v.List, Value{Str: C.GoString(s)})
	}
	return v
}
