#!/bin/bash
# preflight.sh: what a command about one device costs against the size of
# the host (pcitest.Large trees of 20, 256, 1,024 and 4,096 functions). It
# must be flat: at 4,096 functions at most 1.2x what it costs at 20.
#
#   (1) the `xlpt check --json --no-libxl BDF` binary, start to exit, for
#       a VF and a conventional device (median of RUNS runs, the sizes
#       interleaved so load from others hits all alike);
#   (1b) the system calls of those runs (strace -f -c), which load from
#       other processes does not change;
#   (2) go test -bench: check BDF in-process (cmd/xlpt BenchmarkCheckBDF)
#       and the attach preflight plus the fake's add (hotplug
#       BenchmarkAttachPreflight), median of COUNT -count rounds.
#
# usage: scripts/bench/preflight.sh     RUNS=21 COUNT=7 (defaults 15, 5)
set -euo pipefail
runs=${RUNS:-15}
count=${COUNT:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/xlpt-preflight-XXXXXX")
trap 'rm -rf "$work"' EXIT
sizes=(20 256 1024 4096)
(cd "$repo" && go build -o "$work/xlpt" ./cmd/xlpt && go build -o "$work/gentree" ./pcibind/pcitest/gentree)
mkdir -p "$work/proc/net"
: >"$work/proc/mounts"
printf 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' >"$work/proc/net/route"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s%N; }

echo "load before: $(uptime)"
declare -A vf conv
for n in "${sizes[@]}"; do
	"$work/gentree" -n "$n" "$work/t$n" >/dev/null
	# The last VF and the first conventional device behind the bridge.
	vf[$n]=$(cd "$work/t$n/bus/pci/devices" && for d in *; do if [ -e "$d/physfn" ]; then echo "$d"; fi; done | tail -n1)
	conv[$n]=$(cd "$work/t$n/bus/pci/devices" && for d in *; do case $(readlink "$d/driver") in */e1000) echo "$d" ;; esac; done | sed -n 1p)
done
for ((r = 0; r < runs; r++)); do
	for n in "${sizes[@]}"; do
		for kind in vf conv; do
			if [ $kind = vf ]; then b=${vf[$n]}; else b=${conv[$n]}; fi
			t0=$(now)
			"$work/xlpt" --sysfs-root "$work/t$n" --config /nonexistent --proc-root "$work/proc" check --json --no-libxl "$b" >/dev/null
			t1=$(now)
			echo $(((t1 - t0) / 1000)) >>"$work/$kind.$n"
		done
	done
done
echo
echo "(1) xlpt check --json --no-libxl BDF, the binary, median of $runs runs (ms)"
printf "%-14s" device
for n in "${sizes[@]}"; do printf "%10s" "$n fn"; done
printf "%12s\n" "4096/20"
for kind in vf conv; do
	printf "%-14s" "$kind"
	for n in "${sizes[@]}"; do m[$n]=$(median <"$work/$kind.$n"); printf "%10.2f" "$(echo "${m[$n]} / 1000" | bc -l)"; done
	printf "%12.2f\n" "$(echo "${m[4096]} / ${m[20]}" | bc -l)"
done

if command -v strace >/dev/null; then
	echo
	echo "(1b) the same runs' file system calls (openat, readlinkat, read, getdents64, stat: strace -f -c; the Go runtime's own calls, which vary with scheduling, left out)"
	printf "%-14s" device
	for n in "${sizes[@]}"; do printf "%10s" "$n fn"; done
	printf "%12s\n" "4096/20"
	for kind in vf conv; do
		printf "%-14s" "$kind"
		for n in "${sizes[@]}"; do
			if [ $kind = vf ]; then b=${vf[$n]}; else b=${conv[$n]}; fi
			strace -f -c -o "$work/strace" "$work/xlpt" --sysfs-root "$work/t$n" --config /nonexistent --proc-root "$work/proc" check --json --no-libxl "$b" >/dev/null
			m[$n]=$(awk '$NF ~ /^(openat|readlinkat|read|pread64|getdents64|newfstatat|statx|fstat|lstat|stat)$/ { s += $4 } END { print s }' "$work/strace")
			printf "%10d" "${m[$n]}"
		done
		printf "%12.2f\n" "$(echo "${m[4096]} / ${m[20]}" | bc -l)"
	done
fi

echo
echo "(2) go test -bench, median of -count $count (ms/op)"
printf "%-52s %9s %9s %9s %9s %9s\n" benchmark "20 fn" "256 fn" "1024 fn" "4096 fn" "4096/20"
(cd "$repo" && go test -run '^$' -bench 'BenchmarkCheckBDF|BenchmarkAttachPreflight' -benchtime 100x -count "$count" ./cmd/xlpt ./hotplug) 2>/dev/null |
	awk '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); v[name] = v[name] " " $3 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((n + 1) / 2)]
	}
	END {
		for (k in v) { base = k; sub(/\/funcs=[0-9]+$/, "", base); size = k; sub(/.*funcs=/, "", size); m[base, size] = median(v[k]); bases[base] = 1 }
		for (b in bases)
			printf "%-52s %9.3f %9.3f %9.3f %9.3f %9.2f\n", b, m[b, 20] / 1e6, m[b, 256] / 1e6, m[b, 1024] / 1e6, m[b, 4096] / 1e6, m[b, 4096] / m[b, 20]
	}' | sort
echo
echo "load after: $(uptime)"
