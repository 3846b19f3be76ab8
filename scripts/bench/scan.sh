#!/bin/bash
# scan.sh: time `xlpt check --json` (a full scan) against the floor (the
# same files read with the same parallelism and nothing else:
# scripts/bench/floor) and `lspci -vvv -n`, on synthetic sysfs trees of
# two shapes: large (pcitest.Large: mostly SR-IOV VFs with few
# capabilities) and wide (pcitest.Wide: the same with many capabilities
# per function). Reports xlpt/floor (target <= 1.2) and xlpt/lspci.
#
# usage: scripts/bench/scan.sh [SIZE...]     (default: 4096)
#        RUNS=15 scripts/bench/scan.sh        (runs per tool and size; median)
#        SHAPES="large wide" (default)
#        GOTAGS=... (xlpt's build tags; default as the Makefile's)
#
# Trees go to /dev/shm when it exists (sysfs lives in memory). Runs of the
# two tools alternate so load from other processes hits both alike.
set -euo pipefail

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(4096)
shapes=${SHAPES:-large wide}
runs=${RUNS:-11}
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/xlpt-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v lspci >/dev/null || { echo "scan.sh: lspci not installed" >&2; exit 1; }
# xlpt is built with the build tags `make build` uses (GOTAGS, default
# urfave_cli_no_docs: no blackfriday, ~0.7 ms of package init a run), so
# the bench times the binary that ships.
(cd "$repo" && go build -tags "${GOTAGS-urfave_cli_no_docs,xlpt_release}" -o "$work/xlpt" ./cmd/xlpt && go build -o "$work/gentree" ./pcibind/pcitest/gentree &&
	go build -o "$work/floor" ./scripts/bench/floor)

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

echo "load before: $(uptime)"
echo "median of $runs samples; wall = elapsed, cpu = user+sys; both in ms per run"
printf "%8s %6s %9s %9s %9s %7s %7s %9s %9s %7s\n" functions shape "floor" "xlpt" "lspci" "x/floor" "x/lspci" "floor cpu" "xlpt cpu" "x/floor"
for n in "${sizes[@]}"; do
	for shape in $shapes; do
		tree=$work/tree-$n
		"$work/gentree" -n "$n" -shape "$shape" "$tree" >/dev/null
		xl=("$work/xlpt" --sysfs-root "$tree" --config /nonexistent --proc-root "$work/proc" check --json --no-libxl)
		ls=(lspci -A linux-sysfs -O "sysfs.path=$tree/bus/pci" -vvv -n)
		fl=("$work/floor" "$tree")
		# Sanity: all see every function.
		got=$("${xl[@]}" | grep -c '"bdf"')
		[ "$got" = "$n" ] || { echo "scan.sh: xlpt saw $got of $n functions" >&2; exit 1; }
		got=$("${ls[@]}" 2>/dev/null | grep -c '^[0-9a-f][0-9a-f]:')
		[ "$got" = "$n" ] || { echo "scan.sh: lspci saw $got of $n functions" >&2; exit 1; }
		got=$("${fl[@]}" | cut -d' ' -f1)
		[ "$got" = "$n" ] || { echo "scan.sh: floor saw $got of $n functions" >&2; exit 1; }
		# Small trees run several times per sample, so the clocks' ticks
		# do not dominate.
		reps=$((2048 / n))
		((reps >= 1)) || reps=1
		rm -f "$work"/*.wall "$work"/*.cpu
		for ((r = 0; r < runs; r++)); do
			sample f "${fl[@]}"
			sample x "${xl[@]}"
			sample l "${ls[@]}"
		done
		fw=$(median <"$work/f.wall"); xw=$(median <"$work/x.wall"); lw=$(median <"$work/l.wall")
		fc=$(median <"$work/f.cpu"); xc=$(median <"$work/x.cpu")
		awk -v n="$n" -v s="$shape" -v fw="$fw" -v xw="$xw" -v lw="$lw" -v fc="$fc" -v xc="$xc" 'BEGIN {
			printf "%8d %6s %9.1f %9.1f %9.1f %7.2f %7.2f %9.1f %9.1f %7.2f\n",
				n, s, fw/1000, xw/1000, lw/1000, xw/fw, xw/lw, fc/1000, xc/1000, (fc ? xc/fc : 0) }'
		rm -rf "$tree"
	done
done
echo "load after: $(uptime)"
