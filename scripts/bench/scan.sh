#!/bin/bash
# scan.sh: time `xlpt check --json` against `lspci -vvv -n` on the same
# synthetic sysfs trees (pcitest.Large: SR-IOV VFs, switches, a
# PCIe-to-PCI bridge) and report the ratio and how both grow.
#
# usage: scripts/bench/scan.sh [SIZE...]     (default: 256 1024 4096)
#        RUNS=15 scripts/bench/scan.sh        (runs per tool and size; median)
#
# Trees go to /dev/shm when it exists (sysfs lives in memory). Runs of the
# two tools alternate so load from other processes hits both alike.
set -euo pipefail

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024 4096)
runs=${RUNS:-11}
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/xlpt-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v lspci >/dev/null || { echo "scan.sh: lspci not installed" >&2; exit 1; }
(cd "$repo" && go build -o "$work/xlpt" ./cmd/xlpt && go build -o "$work/gentree" ./pcibind/pcitest/gentree)

# An empty /proc: nothing mounted, no default route, so check does the
# same work for every device.
mkdir -p "$work/proc/net"
: >"$work/proc/mounts"
printf 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' >"$work/proc/net/route"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# cpu_ms: user+sys CPU of this shell's finished children, in ms, from
# the `times` output the caller saved (times must run in this shell, not
# in the $(...) subshell, to see them).
cpu_ms() {
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60000 + p[2] * 1000 } printf "%d\n", t }' "$work/times"
}
# sample NAME CMD...: run CMD $reps times; append wall and CPU ms per run.
sample() {
	local name=$1 t0 t1 c0 c1 i
	shift
	times >"$work/times"; c0=$(cpu_ms)
	t0=$(now)
	for ((i = 0; i < reps; i++)); do "$@" >/dev/null 2>&1; done
	t1=$(now)
	times >"$work/times"; c1=$(cpu_ms)
	echo "$(((t1 - t0) / reps / 1000))" >>"$work/$name.wall"
	echo "$(((c1 - c0) * 1000 / reps))" >>"$work/$name.cpu"
}

echo "median of $runs samples; wall = elapsed, cpu = user+sys; both in ms per run"
printf "%8s %10s %10s %7s %10s %10s %7s %12s %12s\n" functions "xlpt wall" "lspci wall" ratio "xlpt cpu" "lspci cpu" ratio "xlpt us/fn" "lspci us/fn"
for n in "${sizes[@]}"; do
	tree=$work/tree-$n
	"$work/gentree" -n "$n" "$tree" >/dev/null
	xl=("$work/xlpt" --sysfs-root "$tree" --config /nonexistent --proc-root "$work/proc" check --json)
	ls=(lspci -A linux-sysfs -O "sysfs.path=$tree/bus/pci" -vvv -n)
	# Sanity: both see every function.
	got=$("${xl[@]}" | grep -c '"bdf"')
	[ "$got" = "$n" ] || { echo "scan.sh: xlpt saw $got of $n functions" >&2; exit 1; }
	got=$("${ls[@]}" 2>/dev/null | grep -c '^[0-9a-f][0-9a-f]:')
	[ "$got" = "$n" ] || { echo "scan.sh: lspci saw $got of $n functions" >&2; exit 1; }
	# Small trees run several times per sample, so the clocks' ticks
	# do not dominate.
	reps=$((2048 / n))
	((reps >= 1)) || reps=1
	rm -f "$work"/*.wall "$work"/*.cpu
	for ((r = 0; r < runs; r++)); do
		sample x "${xl[@]}"
		sample l "${ls[@]}"
	done
	xw=$(median <"$work/x.wall"); lw=$(median <"$work/l.wall")
	xc=$(median <"$work/x.cpu"); lc=$(median <"$work/l.cpu")
	awk -v n="$n" -v xw="$xw" -v lw="$lw" -v xc="$xc" -v lc="$lc" 'BEGIN {
		printf "%8d %10.1f %10.1f %7.2f %10.1f %10.1f %7.2f %12.1f %12.1f\n",
			n, xw/1000, lw/1000, xw/lw, xc/1000, lc/1000, (lc ? xc/lc : 0), xw/n, lw/n }'
	rm -rf "$tree"
done
