# shellcheck shell=bash disable=SC2034
# Common settings of the xlpt testbed scripts (sourced, not run).

TB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_REPO=$(cd "$TB_SRC/../.." && pwd)
# Where the artefacts go; git ignores /build/.
TB_OUT=${TESTBED_DIR:-$TB_REPO/build/testbed}
# The Xen of this root: 4.17 on Debian 12, 4.20 inside the Debian 13 root
# (scripts/debian13), whichever /usr/lib/xen-4.* is installed.
TB_XEN_VER=${TESTBED_XEN:-$(cd /usr/lib && ls -d xen-4.* 2>/dev/null | sed 's/^xen-//' | sort -V | tail -n1)}
TB_XEN_GZ=${TESTBED_XEN_GZ:-/boot/xen-$TB_XEN_VER-amd64.gz}
TB_XEN_BIN=/usr/lib/xen-$TB_XEN_VER/bin
TB_DM=/usr/libexec/xen-qemu-system-i386

tb_log() { printf 'testbed: %s\n' "$*" >&2; }
tb_die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

# tb_kernel_version prints the version of the newest Debian kernel in /boot
# that also has its modules installed (TESTBED_KERNEL overrides).
tb_kernel_version() {
	if [[ -n ${TESTBED_KERNEL:-} ]]; then
		echo "$TESTBED_KERNEL"
		return
	fi
	local f v best=
	for f in /boot/vmlinuz-*; do
		[[ -e $f ]] || continue
		v=${f#/boot/vmlinuz-}
		[[ -d /lib/modules/$v/kernel ]] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)
	done
	[[ -n $best ]] || tb_die "no /boot/vmlinuz-* with modules in /lib/modules (apt-get install linux-image-amd64)"
	echo "$best"
}
