#!/bin/bash
# testbed.sh: xl against xlpt on real Xen (the testbed: Xen 4.17 in QEMU),
# for pci-attach, pci-detach (a PV and an HVM guest) and
# pci-assignable-add/-remove, on the same device, rotating which tool
# goes first each round; prints per-operation medians and xlpt/xl ratios,
# then one `xlpt -vv` run of each operation with its timing lines (where
# xlpt's time goes). A third tool runs in every round: gofloor
# (scripts/bench/gofloor), a Go program that makes only the libxl calls
# xl makes: gofloor/xl is what Go and cgo cost here before any of xlpt's
# own work, xlpt/gofloor is xlpt's own overhead. Start-up rows: cfloor
# (scripts/bench/cfloor.c) and gofloor opening and closing a libxl
# context, alternating, 8 times a round (what Go costs to start over C,
# the same libxl calls), `xlpt --help`, `xlpt pci-spec
# 01:00.0` (no libxl), and `xl info` and `xl pci-list` with `xlpt
# pci-list` for scale.
#
# The work, not only the time: each operation and start-up command runs
# once more per tool under strace in dom0, and scripts/bench/count-syscalls
# counts its hypercalls (ioctls on /dev/xen/privcmd), xenstore requests
# and file-system calls: counts that do not depend on the machine's load,
# printed beside the times as xlpt/xl ratios (skipped, with a note, when
# the dom0 image has no strace).
#
# Several devices (HVM): k = 1, 2, 4 devices (KDEVS) attached by xl
# (untimed), then detached by one `xlpt pci-detach hvm1 BDF...` against k
# `xl pci-detach` one after another, alternating which goes first; the
# medians and xlpt/xl (target for k = 2: <= 0.70).
#
# usage: flock /tmp/xlpt-testbed.lock scripts/bench/testbed.sh   (or make bench-testbed)
#        ROUNDS=9 ... (default 5)   DEV=0000:00:08.0 ... (default 0000:00:03.0)
#        KDEVS="..." (default DEV 0000:00:05.0 0000:00:06.0 0000:00:07.0)  KROUNDS=N (default ROUNDS)
#        NO_HVM=1 ...  skip the HVM guest (its boot takes minutes under load)
#        NO_COUNT=1 ... skip the counting runs under strace
#
# Times are taken in dom0 around each command with busybox adjtimex
# (microseconds); the cost of taking the time itself, measured around a
# no-op, is subtracted. Not part of `make check`.
set -euo pipefail
# shellcheck source=scripts/testbed/lib.sh
. "$(dirname "$0")/../testbed/lib.sh"
rounds=${ROUNDS:-5}
dev=${DEV:-0000:00:03.0}
kdevs=${KDEVS:-$dev 0000:00:05.0 0000:00:06.0 0000:00:07.0}
krounds=${KROUNDS:-$rounds}

"$TB_SRC/build" >&2
[[ -e $TB_OUT/xlpt ]] || tb_die "xlpt did not build"
run_dir=$(mktemp -d /tmp/xlpt-bench-XXXXXX)
mkdir -p "$run_dir/overlay/usr/local/bin"
(cd "$TB_REPO" && go build -tags benchfloor -trimpath -o "$run_dir/overlay/usr/local/bin/gofloor" ./scripts/bench/gofloor) ||
	tb_die "scripts/bench/gofloor did not build"
# shellcheck disable=SC2046 # pkg-config's words are separate arguments
cc -O2 -o "$run_dir/overlay/usr/local/bin/cfloor" "$TB_REPO/scripts/bench/cfloor.c" $(pkg-config --cflags --libs xenlight xentoollog) ||
	tb_die "scripts/bench/cfloor.c did not build"
install -m 755 "$TB_REPO/scripts/bench/count-syscalls" "$run_dir/overlay/usr/local/bin/"
ctl=$run_dir/ctl.sock
mkdir -p "$TB_OUT/logs"
log=$TB_OUT/logs/bench-$(date +%Y%m%d-%H%M%S).log
qemu_pid=
cleanup() {
	if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		"$TB_OUT/tbctl" -sock "$ctl" exec -timeout 20s '(sleep 1; reboot -f) >/dev/null 2>&1 &' >/dev/null 2>&1 || true
		for _ in $(seq 30); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$run_dir"
}
trap cleanup EXIT
d() { "$TB_OUT/tbctl" -sock "$ctl" exec -timeout 15m "$@"; }

echo "load before boot: $(uptime)"
"$TB_SRC/run" --no-build --ctl "$ctl" --log "$log" --timeout 3600 --dom0-overlay "$run_dir/overlay" >"$run_dir/run.out" 2>&1 &
qemu_pid=$!
for _ in $(seq 100); do [[ -S $ctl ]] && break; sleep 0.2; done
"$TB_OUT/tbctl" -sock "$ctl" wait -timeout 15m || {
	tail -n 30 "$log"
	tb_die "dom0 did not come up"
}
echo "dom0 up; serial log $log" >&2

d 'adjtimex | grep -q tv_usec' || tb_die "dom0's busybox has no adjtimex: no microsecond clock to time with"
# Guests: PV pv1 and (unless NO_HVM) HVM hvm1, both created without
# devices and with passthrough enabled, booting side by side; HVM guests
# triple-fault now and then under TCG (scripts/testbed/README.md): a
# second try.
mkhvm="xl destroy hvm1 >/dev/null 2>&1; rm -f /var/log/xen/console/hvm1-serial.log; tb-cfg hvm hvm1 '' 'passthrough = \"enabled\"' >/dev/null && xl create /etc/xen/hvm1.cfg >/dev/null 2>&1"
[[ -n ${NO_HVM:-} ]] || d "$mkhvm" || echo "HVM guest not created" >&2
d "tb-cfg pv pv1 '' 'passthrough = \"enabled\"' >/dev/null && xl create /etc/xen/pv1.cfg >/dev/null 2>&1 && tb-wait /var/log/xen/console/guest-pv1.log 'GUEST: READY' 600 >/dev/null" ||
	tb_die "PV guest did not boot"
echo "PV guest up; $(uptime)" >&2
hvm=
if [[ -z ${NO_HVM:-} ]]; then
	for try in 1 2; do
		if ((try > 1)); then d "$mkhvm" || continue; fi
		if d "tb-wait /var/log/xen/console/hvm1-serial.log 'GUEST: READY' 600 >/dev/null"; then
			hvm=hvm1
			break
		fi
		echo "HVM guest did not boot (try $try)" >&2
	done
	echo "HVM guest: ${hvm:-none}; $(uptime)" >&2
fi
# ensure_hvm: hvm1 again when the emulator killed it (a reset or a triple
# fault under TCG, scripts/testbed/README.md) since its last use; hvm= when
# it does not come back. A round that lost it mid-way reports its failed
# commands (rc != 0) and is left out of the medians.
ensure_hvm() {
	[[ -n $hvm ]] || return 0
	d "xl domid hvm1 >/dev/null 2>&1" && return 0
	echo "hvm1 is gone (the emulator killed it): creating it again; $(uptime)" >&2
	d "$mkhvm && tb-wait /var/log/xen/console/hvm1-serial.log 'GUEST: READY' 600 >/dev/null" || hvm=
	[[ -n $hvm ]] || echo "hvm1 did not come back: the HVM rows are left out" >&2
}
d "for x in $dev $kdevs; do xl pci-assignable-add \$x >/dev/null 2>&1; done; xl pci-assignable-list" >&2

# In dom0: now prints microseconds; tm LABEL CMD... prints "LABEL usecs rc".
timer='now() { adjtimex | { while read -r a b c; do case $a in time.tv_sec:) s=$b;; time.tv_usec:) u=$b;; esac; done; echo $((s*1000000+u)); }; }
tm() { l=$1; shift; t0=$(now); "$@" >/tmp/bench.out 2>&1; rc=$?; t1=$(now); echo "$l $((t1-t0)) $rc"; [ $rc = 0 ] || cat /tmp/bench.out >&2; }
# settle DOM (untimed): let the guest finish reacting before the next
# operation. The pcifront of a PV guest reconnects after each change (both
# ends back in state 4, Connected); timing the next change while it does
# measured the 10 s wait of libxl for the backend, not the tools.
settle() { id=$(xl domid $1); i=0; while [ $i -lt 150 ]; do
	b=$(xenstore-read /local/domain/0/backend/pci/$id/0/state 2>/dev/null); f=$(xenstore-read /local/domain/$id/device/pci/0/state 2>/dev/null)
	{ [ -z "$b" ] || [ "$b" = 4 ]; } && { [ -z "$f" ] || [ "$f" = 4 ]; } && break; usleep 100000; i=$((i+1)); done; sleep 1; }'
out=$run_dir/samples
: >"$out"
for ((r = 1; r <= rounds; r++)); do
	case $((r % 3)) in
	1) order="xl xlpt gofloor" ;;
	2) order="xlpt gofloor xl" ;;
	*) order="gofloor xl xlpt" ;;
	esac
	script="$timer
tm noop :
for tool in $order; do
	tm attach-pv:\$tool \$tool pci-attach pv1 $dev; settle pv1
	tm detach-pv:\$tool \$tool pci-detach pv1 $dev; settle pv1
done"
	ensure_hvm
	if [[ -n $hvm ]]; then
		script+="
for tool in $order; do
	tm attach-hvm:\$tool \$tool pci-attach hvm1 $dev@7; settle hvm1
	tm detach-hvm:\$tool \$tool pci-detach hvm1 $dev; settle hvm1
done"
	fi
	script+="
for tool in $order; do
	tm assignable-remove:\$tool \$tool pci-assignable-remove -r $dev
	tm assignable-add:\$tool \$tool pci-assignable-add $dev
done
for i in 1 2 3 4; do tm start:cfloor cfloor; tm start:gofloor gofloor; tm start:gofloor gofloor; tm start:cfloor cfloor; done
tm start:xlpt-help xlpt --help
tm start:xlpt-pci-spec xlpt pci-spec 01:00.0
tm start:xl-info xl info
tm start:xl-pci-list xl pci-list pv1
tm start:xlpt-pci-list xlpt pci-list pv1"
	d "$script" | tee -a "$out" >&2
done

# Several devices of the HVM guest: one xlpt pci-detach against k xl
# pci-detach in a row; xl attaches them first (untimed: QEMU picks the
# slots).
if [[ -n $hvm ]]; then
	for k in 1 2 4; do
		# shellcheck disable=SC2086 # the devices are words
		set -- $kdevs
		kset=${*:1:k}
		((k <= $#)) || { echo "KDEVS has fewer than $k devices: k=$k skipped" >&2; continue; }
		for ((r = 1; r <= krounds; r++)); do
			ensure_hvm
			[[ -n $hvm ]] || break
			order="xl xlpt"
			((r % 2)) || order="xlpt xl"
			d "$timer
attach_all() { for x in $kset; do xl pci-attach hvm1 \$x >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; return 1; }; settle hvm1; done; }
xlseq() { for x in \"\$@\"; do xl pci-detach hvm1 \$x || return 1; done; }
tm noop :
for tool in $order; do
	attach_all || echo \"kdetach-$k:\$tool 0 1\"
	if [ \$tool = xl ]; then tm kdetach-$k:xl xlseq $kset; else tm kdetach-$k:xlpt xlpt pci-detach hvm1 $kset; fi
	settle hvm1
done" | tee -a "$out" >&2
		done
	done
fi

# The work each command asks of Xen, xenstore and the file system: one
# run of each under strace, counted by count-syscalls.
counts=$run_dir/counts
: >"$counts"
if [[ -z ${NO_COUNT:-} ]] && d 'command -v strace >/dev/null'; then
	script="$timer
cnt() { l=\$1; shift; strace -f -qq -y -x -s 8 -o /tmp/bench.trace \"\$@\" >/tmp/bench.out 2>&1; rc=\$?; echo \"\$l \$(count-syscalls /tmp/bench.trace) \$rc\"; [ \$rc = 0 ] || cat /tmp/bench.out >&2; }
for tool in xl gofloor xlpt; do
	cnt attach-pv:\$tool \$tool pci-attach pv1 $dev; settle pv1
	cnt detach-pv:\$tool \$tool pci-detach pv1 $dev; settle pv1
done"
	ensure_hvm
	if [[ -n $hvm ]]; then
		script+="
for tool in xl gofloor xlpt; do
	cnt attach-hvm:\$tool \$tool pci-attach hvm1 $dev@7; settle hvm1
	cnt detach-hvm:\$tool \$tool pci-detach hvm1 $dev; settle hvm1
done"
	fi
	script+="
for tool in xl gofloor xlpt; do
	cnt assignable-remove:\$tool \$tool pci-assignable-remove -r $dev
	cnt assignable-add:\$tool \$tool pci-assignable-add $dev
done
cnt start:cfloor cfloor
cnt start:gofloor gofloor
cnt start:xlpt-help xlpt --help
cnt start:xlpt-pci-spec xlpt pci-spec 01:00.0
cnt start:xl-info xl info
cnt start:xl-pci-list xl pci-list pv1
cnt start:xlpt-pci-list xlpt pci-list pv1"
	d "$script" | tee "$counts" >&2
else
	echo "no strace in dom0 (or NO_COUNT): hypercalls, xenstore requests and file-system calls not counted" >&2
fi

echo
echo "testbed: $rounds rounds, order rotating; device $dev; host load now: $(uptime)"
awk '
	FILENAME == ARGV[1] { if (NF == 6 && $6 == 0) { hyp[$1] = $2; xs[$1] = $3; fs[$1] = $4; all[$1] = $5; ncounted++ }; next }
	$3 != 0 { bad[$1] = 1 }
	{ v[$1] = v[$1] " " $2 }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		o = median(v["noop"])
		printf "timer overhead (median, subtracted): %.1f ms\n", o / 1000
		printf "%-18s %8s %8s %8s %8s %8s %8s  %-10s %7s %7s %7s\n", "operation", "xl (s)", "go (s)", "xlpt (s)", "xlpt/xl", "go/xl", "xlpt/go", "target", "hyp x", "xs x", "fs x"
		split("attach-pv detach-pv attach-hvm detach-hvm assignable-add assignable-remove", ops, " ")
		for (i = 1; i <= 6; i++) {
			k = ops[i]
			if (!((k ":xl") in v)) continue
			x = median(v[k ":xl"]) - o; y = median(v[k ":xlpt"]) - o; g = median(v[k ":gofloor"]) - o
			tgt = k ~ /assignable/ ? 1.10 : 1.05
			printf "%-18s %8.3f %8.3f %8.3f %8.2f %8.2f %8.2f  %-10s %7s %7s %7s%s\n", k, x / 1e6, g / 1e6, y / 1e6, y / x, g / x, y / g,
				"xlpt/go " (y / g <= tgt ? "<=" : ">") sprintf("%.2f", tgt), ratio(hyp[k ":xlpt"], hyp[k ":xl"]), ratio(xs[k ":xlpt"], xs[k ":xl"]), ratio(fs[k ":xlpt"], fs[k ":xl"]),
				(bad[k ":xl"] || bad[k ":xlpt"] || bad[k ":gofloor"]) ? "  (some runs FAILED)" : ""
		}
		printf "(go = gofloor: only the libxl calls xl makes, from Go; go/xl is the language'"'"'s cost here, xlpt/go xlpt'"'"'s own;\n"
		printf " hyp x, xs x, fs x: xlpt/xl of the hypercalls, xenstore requests and file-system calls, counted under strace: targets 1.05 (attach, detach), 1.10 (assignable))\n"
		if (ncounted > 0) {
			printf "\nwork per command, one run each under strace: hypercalls / xenstore requests / file-system calls / all system calls\n"
			printf "%-20s %-22s %-22s %-22s\n", "command", "xl", "gofloor", "xlpt"
			split("attach-pv detach-pv attach-hvm detach-hvm assignable-add assignable-remove", ops, " ")
			for (i = 1; i <= 6; i++) {
				k = ops[i]
				if (!((k ":xl") in hyp) && !((k ":xlpt") in hyp)) continue
				printf "%-20s", k
				split("xl gofloor xlpt", tl, " ")
				for (j = 1; j <= 3; j++) { t = k ":" tl[j]; printf " %-22s", (t in hyp) ? hyp[t] "/" xs[t] "/" fs[t] "/" all[t] : "-" }
				printf "\n"
			}
			split("cfloor gofloor xlpt-help xlpt-pci-spec xl-info xl-pci-list xlpt-pci-list", st, " ")
			for (i = 1; i <= 7; i++) if (("start:" st[i]) in hyp) { t = "start:" st[i]; printf "%-20s %s/%s/%s/%s\n", "start " st[i], hyp[t], xs[t], fs[t], all[t] }
			if (("start:gofloor" in all) && ("start:xlpt-pci-spec" in all))
				printf "  xlpt pci-spec over gofloor'"'"'s start (no libxl in xlpt pci-spec): all calls %s, fs calls %s\n", ratio(all["start:xlpt-pci-spec"], all["start:gofloor"]), ratio(fs["start:xlpt-pci-spec"], fs["start:gofloor"])
		}
		if ("kdetach-1:xl" in v) {
			printf "\nseveral devices of hvm1: one xlpt pci-detach against k xl pci-detach in a row (medians, s)\n"
			printf "%-4s %10s %10s %8s  %s\n", "k", "xl x k", "xlpt", "xlpt/xl", "target"
			for (kk = 1; kk <= 4; kk *= 2) {
				t = "kdetach-" kk
				if (!((t ":xl") in v) || !((t ":xlpt") in v)) continue
				x = median(v[t ":xl"]) - o; y = median(v[t ":xlpt"]) - o
				printf "%-4d %10.3f %10.3f %8.2f  %s%s\n", kk, x / 1e6, y / 1e6, y / x, kk == 2 ? ((y / x <= 0.70 ? "<= " : "> ") "0.70") : "",
					(bad[t ":xl"] || bad[t ":xlpt"]) ? "  (some runs FAILED)" : ""
			}
		}
		printf "\nstart-up, medians (ms): cfloor and gofloor open and close a libxl context (C, Go); xlpt without libxl; xl for scale\n"
		split("cfloor gofloor xlpt-help xlpt-pci-spec xl-info xl-pci-list xlpt-pci-list", st, " ")
		for (i = 1; i <= 7; i++) if (("start:" st[i]) in v) printf "  %-16s %8.1f%s\n", st[i], (median(v["start:" st[i]]) - o) / 1000, bad["start:" st[i]] ? "  (some runs FAILED)" : ""
		if (("start:cfloor" in v) && ("start:gofloor" in v)) {
			c = median(v["start:cfloor"]) - o; g = median(v["start:gofloor"]) - o
			printf "  Go'"'"'s start-up over C'"'"'s, same libxl calls: %.1f ms (gofloor/cfloor %.2f; %d samples each)\n", (g - c) / 1000, g / c, split(v["start:gofloor"], tmp, " ")
		}
		if (("start:gofloor" in v) && ("start:xlpt-pci-spec" in v)) {
			g = median(v["start:gofloor"]) - o; p = median(v["start:xlpt-pci-spec"]) - o
			printf "  xlpt pci-spec over gofloor'"'"'s start: %.2f (target <= 1.10)\n", p / g
		}
	}' "$counts" "$out"

# Where xlpt's time goes: one -vv run of each operation.
echo
echo "one xlpt -vv run of each operation (timing lines):"
script="xlpt -vv pci-attach pv1 $dev 2>&1 | grep timing; xlpt -vv pci-detach pv1 $dev 2>&1 | grep timing"
[[ -z $hvm ]] || script+="; xlpt -vv pci-attach hvm1 $dev@7 2>&1 | grep timing; xlpt -vv pci-detach hvm1 $dev 2>&1 | grep timing"
script+="; xlpt -vv pci-assignable-remove -r $dev 2>&1 | grep timing; xlpt -vv pci-assignable-add $dev 2>&1 | grep timing"
d "$script" || true
