#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Samples per second that one CPU-bound RandomX-like thread gets, with the
# sampling floor off and at a few rates, measured side by side in one run
# (alternating, repeated; medians), plus what the wakers cost mxwatch in CPU.
#
#   sudo bench/sampling_floor.sh [BUILD_DIR] [rounds]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
rounds=${2:-3}
seconds=8
rates=(0 50 100)

measure() { # rate -> "samples_per_s cpu_percent"
	local rate=$1 out err
	out=$(mktemp) err=$(mktemp)
	# The miner starts after mxwatch attached and runs alone on CPU 1.
	( sleep 1.5; exec taskset -c 1 "$build/tests/workloads/mxw-cfround" --seconds $((seconds - 2)) ) &
	local miner=$!
	/usr/bin/time -f "%U %S" -o "$err.time" \
		"$build/mxwatch" --sampling-floor-hz "$rate" check --json --duration "$seconds" >"$out" 2>"$err" || true
	wait "$miner"
	python3 - "$out" "$err.time" "$miner" "$seconds" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
user, sys_ = map(float, open(sys.argv[2]).read().split()[-2:])
pid, seconds = int(sys.argv[3]), float(sys.argv[4])
samples = sum(p["samples"] for p in doc["processes"] if p["pid"] == pid)
print(f"{samples / (seconds - 2):.1f} {100 * (user + sys_) / seconds:.2f}")
PY
	rm -f "$out" "$err" "$err.time"
}

declare -A rate_samples rate_cpu
for ((r = 0; r < rounds; r++)); do
	for rate in "${rates[@]}"; do
		read -r s c < <(measure "$rate")
		rate_samples[$rate]+="$s "
		rate_cpu[$rate]+="$c "
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base=$(median <<<"${rate_samples[0]}")
printf "%-18s %18s %10s %22s\n" "sampling floor" "samples/s (median)" "vs off" "mxwatch CPU % (median)"
for rate in "${rates[@]}"; do
	s=$(median <<<"${rate_samples[$rate]}")
	c=$(median <<<"${rate_cpu[$rate]}")
	ratio=$(awk -v a="$s" -v b="$base" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
	label=$([[ $rate == 0 ]] && echo off || echo "$rate Hz")
	printf "%-18s %18s %10s %22s\n" "$label" "$s" "$ratio" "$c"
done
echo "($rounds rounds of ${seconds}s, one mxw-cfround thread pinned to CPU 1, $(nproc) CPUs, $(uname -r))"
