/*
 * The one place where xenlight meets libxl's headers. Every cgo file of the
 * binding includes this instead of <libxl.h>.
 *
 * LIBXL_API_VERSION pins the libxl API the binding is written against, so
 * one source builds against Debian 12's libxl 4.17 and Debian 13's 4.20
 * (both accept 0x041400; 4.20 adds 0x041800). Without it, each build would
 * get "the latest" API of its headers, and a changed signature would break
 * one of them silently.
 *
 * Differences between 4.17 and 4.20 in what xenlight calls: none that need
 * a shim. Checked by diffing Debian 12's and Debian 13's libxl.h and
 * _libxl_types.h: libxl_device_pci, libxl_dominfo and libxl_rdm_reserve
 * are identical, and the signatures of every function the binding calls
 * (pci add/remove/destroy/list, assignable add/remove/list, domain info
 * and list, retrieve_domain_configuration, get_physinfo, and libxenctrl's
 * xc_reserved_device_memory_map and xc_domain_get_pod_target) are
 * unchanged. 4.18-4.20 only added fields the binding does not read
 * (libxl_physinfo.arch_capabilities; build info: llc_colors, smbios,
 * bootloader_restrict, hvm.pirq, arch_arm) and changed calls it does not
 * make (libxl_console_exec gained an escape character). cgo reaches
 * fields by name, so added fields need nothing. When a change does need
 * a shim, it goes here, named for the libxl change.
 */
#ifndef XLPT_LIBXL_API_H
#define XLPT_LIBXL_API_H
#define LIBXL_API_VERSION 0x041400
#include <libxl.h>
#endif
