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
#include <libxl_utils.h>
#include <xenctrl.h>
#include <xenstore.h>
#include <xentoollog.h>

/*
 * libxl is loaded when xlpt first needs it (dl.go), not by the dynamic
 * loader at every start: a command that never calls libxl (pci-spec, a
 * report from sysfs, --help) does not map libxenlight and the 16
 * libraries it brings, a quarter of xlpt's page faults at start. Every
 * function (and the one table) the binding uses from libxenlight and the
 * libraries it links (libxenctrl, libxenstore, libxentoollog) is reached
 * through xlpt_sym, filled by dlsym: each name below is defined as its
 * pointer, after the headers have declared it, so the binding calls libxl
 * by its own names (and cgo sees each one's type). A name missing here
 * fails the link (the binding links none of these libraries), not a run.
 */
#define XLPT_SYMS(S) \
	S(libxl_ctx_alloc) \
	S(libxl_ctx_free) \
	S(libxl_childproc_setmode) \
	S(libxl_childproc_sigchld_occurred) \
	S(libxl_device_pci_init) \
	S(libxl_device_pci_dispose) \
	S(libxl_device_pci_copy) \
	S(libxl_device_pci_add) \
	S(libxl_device_pci_remove) \
	S(libxl_device_pci_destroy) \
	S(libxl_device_pci_list) \
	S(libxl_device_pci_list_free) \
	S(libxl_device_pci_assignable_add) \
	S(libxl_device_pci_assignable_remove) \
	S(libxl_device_pci_assignable_list) \
	S(libxl_device_pci_assignable_list_free) \
	S(libxl_domain_info) \
	S(libxl_domain_pause) \
	S(libxl_domain_unpause) \
	S(libxl_dominfo_init) \
	S(libxl_dominfo_dispose) \
	S(libxl_dominfo_list_free) \
	S(libxl_list_domain) \
	S(libxl_domid_to_name) \
	S(libxl_domain_qualifier_to_domid) \
	S(libxl_domain_config_init) \
	S(libxl_domain_config_dispose) \
	S(libxl_domain_config_from_json) \
	S(libxl_retrieve_domain_configuration) \
	S(libxl_userdata_retrieve) \
	S(libxl_physinfo_init) \
	S(libxl_physinfo_dispose) \
	S(libxl_get_physinfo) \
	S(libxl_get_version_info) \
	S(libxl_defbool_is_default) \
	S(libxl_defbool_val) \
	S(libxl_error_string_table) \
	S(xc_interface_open) \
	S(xc_interface_close) \
	S(xc_test_assign_device) \
	S(xc_deassign_device) \
	S(xc_reserved_device_memory_map) \
	S(xc_domain_get_pod_target) \
	S(xs_open) \
	S(xs_close) \
	S(xs_read) \
	S(xs_write) \
	S(xs_rm) \
	S(xs_directory) \
	S(xtl_logger_destroy) \
	S(xtl_log)

struct xlpt_syms {
#define XLPT_SYM_FIELD(name) __typeof__(name) *p_##name;
	XLPT_SYMS(XLPT_SYM_FIELD)
#undef XLPT_SYM_FIELD
};
extern struct xlpt_syms xlpt_sym;

#define libxl_ctx_alloc (*xlpt_sym.p_libxl_ctx_alloc)
#define libxl_ctx_free (*xlpt_sym.p_libxl_ctx_free)
#define libxl_childproc_setmode (*xlpt_sym.p_libxl_childproc_setmode)
#define libxl_childproc_sigchld_occurred (*xlpt_sym.p_libxl_childproc_sigchld_occurred)
#define libxl_device_pci_init (*xlpt_sym.p_libxl_device_pci_init)
#define libxl_device_pci_dispose (*xlpt_sym.p_libxl_device_pci_dispose)
#define libxl_device_pci_copy (*xlpt_sym.p_libxl_device_pci_copy)
#define libxl_device_pci_add (*xlpt_sym.p_libxl_device_pci_add)
#define libxl_device_pci_remove (*xlpt_sym.p_libxl_device_pci_remove)
#define libxl_device_pci_destroy (*xlpt_sym.p_libxl_device_pci_destroy)
#define libxl_device_pci_list (*xlpt_sym.p_libxl_device_pci_list)
#define libxl_device_pci_list_free (*xlpt_sym.p_libxl_device_pci_list_free)
#define libxl_device_pci_assignable_add (*xlpt_sym.p_libxl_device_pci_assignable_add)
#define libxl_device_pci_assignable_remove (*xlpt_sym.p_libxl_device_pci_assignable_remove)
#define libxl_device_pci_assignable_list (*xlpt_sym.p_libxl_device_pci_assignable_list)
#define libxl_device_pci_assignable_list_free (*xlpt_sym.p_libxl_device_pci_assignable_list_free)
#define libxl_domain_info (*xlpt_sym.p_libxl_domain_info)
#define libxl_domain_pause (*xlpt_sym.p_libxl_domain_pause)
#define libxl_domain_unpause (*xlpt_sym.p_libxl_domain_unpause)
#define libxl_dominfo_init (*xlpt_sym.p_libxl_dominfo_init)
#define libxl_dominfo_dispose (*xlpt_sym.p_libxl_dominfo_dispose)
#define libxl_dominfo_list_free (*xlpt_sym.p_libxl_dominfo_list_free)
#define libxl_list_domain (*xlpt_sym.p_libxl_list_domain)
#define libxl_domid_to_name (*xlpt_sym.p_libxl_domid_to_name)
#define libxl_domain_qualifier_to_domid (*xlpt_sym.p_libxl_domain_qualifier_to_domid)
#define libxl_domain_config_init (*xlpt_sym.p_libxl_domain_config_init)
#define libxl_domain_config_dispose (*xlpt_sym.p_libxl_domain_config_dispose)
#define libxl_domain_config_from_json (*xlpt_sym.p_libxl_domain_config_from_json)
#define libxl_retrieve_domain_configuration (*xlpt_sym.p_libxl_retrieve_domain_configuration)
#define libxl_userdata_retrieve (*xlpt_sym.p_libxl_userdata_retrieve)
#define libxl_physinfo_init (*xlpt_sym.p_libxl_physinfo_init)
#define libxl_physinfo_dispose (*xlpt_sym.p_libxl_physinfo_dispose)
#define libxl_get_physinfo (*xlpt_sym.p_libxl_get_physinfo)
#define libxl_get_version_info (*xlpt_sym.p_libxl_get_version_info)
#define libxl_defbool_is_default (*xlpt_sym.p_libxl_defbool_is_default)
#define libxl_defbool_val (*xlpt_sym.p_libxl_defbool_val)
#define libxl_error_string_table (*xlpt_sym.p_libxl_error_string_table)
#define xc_interface_open (*xlpt_sym.p_xc_interface_open)
#define xc_interface_close (*xlpt_sym.p_xc_interface_close)
#define xc_test_assign_device (*xlpt_sym.p_xc_test_assign_device)
#define xc_deassign_device (*xlpt_sym.p_xc_deassign_device)
#define xc_reserved_device_memory_map (*xlpt_sym.p_xc_reserved_device_memory_map)
#define xc_domain_get_pod_target (*xlpt_sym.p_xc_domain_get_pod_target)
#define xs_open (*xlpt_sym.p_xs_open)
#define xs_close (*xlpt_sym.p_xs_close)
#define xs_read (*xlpt_sym.p_xs_read)
#define xs_write (*xlpt_sym.p_xs_write)
#define xs_rm (*xlpt_sym.p_xs_rm)
#define xs_directory (*xlpt_sym.p_xs_directory)
#define xtl_logger_destroy (*xlpt_sym.p_xtl_logger_destroy)
#define xtl_log (*xlpt_sym.p_xtl_log)
#endif
