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

// PhysInfo describes the host (xl info): CPUs, memory, and the
// capabilities passthrough depends on (CapHVMDirectIO: IOMMU enabled).
func (c *Context) PhysInfo() (xl.PhysInfo, error) {
	var pi xl.PhysInfo
	err := c.runShared(false, nil, func(ctx *C.libxl_ctx, _ *window) error {
		var ci C.libxl_physinfo
		C.libxl_physinfo_init(&ci)
		defer C.libxl_physinfo_dispose(&ci)
		if err := libxlErr("libxl_get_physinfo", C.libxl_get_physinfo(ctx, &ci)); err != nil {
			return err
		}
		pi = physInfoFromC(&ci)
		// libxl caches it: Xen's version costs no more than the first call.
		if v := C.libxl_get_version_info(ctx); v != nil {
			pi.XenMajor, pi.XenMinor = int(v.xen_version_major), int(v.xen_version_minor)
			if v.commandline != nil {
				pi.XenCommandline = C.GoString(v.commandline)
			}
		}
		return nil
	})
	if err != nil {
		return xl.PhysInfo{}, fmt.Errorf("host info: %w", err)
	}
	return pi, nil
}

func physInfoFromC(ci *C.libxl_physinfo) xl.PhysInfo {
	return xl.PhysInfo{
		ThreadsPerCore:     uint32(ci.threads_per_core),
		CoresPerSocket:     uint32(ci.cores_per_socket),
		MaxCPUID:           uint32(ci.max_cpu_id),
		NrCPUs:             uint32(ci.nr_cpus),
		CPUkHz:             uint32(ci.cpu_khz),
		NrNodes:            uint32(ci.nr_nodes),
		TotalPages:         uint64(ci.total_pages),
		FreePages:          uint64(ci.free_pages),
		ScrubPages:         uint64(ci.scrub_pages),
		OutstandingPages:   uint64(ci.outstanding_pages),
		SharingFreedPages:  uint64(ci.sharing_freed_pages),
		SharingUsedFrames:  uint64(ci.sharing_used_frames),
		MaxPossibleMFN:     uint64(ci.max_possible_mfn),
		CapHVM:             bool(ci.cap_hvm),
		CapPV:              bool(ci.cap_pv),
		CapHVMDirectIO:     bool(ci.cap_hvm_directio),
		CapHAP:             bool(ci.cap_hap),
		CapShadow:          bool(ci.cap_shadow),
		CapIOMMUHAPPTShare: bool(ci.cap_iommu_hap_pt_share),
		CapVmtrace:         bool(ci.cap_vmtrace),
		CapVpmu:            bool(ci.cap_vpmu),
		CapGnttabV1:        bool(ci.cap_gnttab_v1),
		CapGnttabV2:        bool(ci.cap_gnttab_v2),
	}
}
