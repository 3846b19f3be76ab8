_xlpt_domains() { xl list 2>/dev/null | awk 'NR > 1 { print $1 }'; }
# _xlpt_devices [DRIVER...]: the PCI addresses in sysfs (bound to one of the drivers).
_xlpt_devices() {
	local d
	if (($# == 0)); then
		for d in /sys/bus/pci/devices/*; do [[ -e $d ]] && echo "${d##*/}"; done
		return
	fi
	for d in "$@"; do
		for d in /sys/bus/pci/drivers/"$d"/[0-9a-f]*:*; do [[ -e $d ]] && echo "${d##*/}"; done
	done
}
