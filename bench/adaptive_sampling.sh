#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The adaptive sampling floor: time to the first alert on a throttled RandomX
# (mxw-randomx --duty P: only preemptions mid-hash carry the signal) with the
# boost off (--sampling-boost 1) and on (default 10x), and what mxwatch (its
# poll loop and its wakers, one process) costs in CPU while one thread is followed.
#
#   sudo bench/adaptive_sampling.sh [BUILD_DIR] [RUNS] [DUTIES...]
#
# Time to alert is the alert's mxwatch.seconds_to_detect: from the process's
# first sample, which is its first non-default one, i.e. from hashing start.
# Cost: mxwatch's utime+stime over COST_SECONDS (default 20) while one followed
# thread runs (a 2%-duty miner, undecided longest; and a fixed-mode thread).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
runs=${2:-3}
shift 2 2>/dev/null || true
duties=("${@:-10 2}")
read -r -a duties <<<"${duties[*]}"
cost_seconds=${COST_SECONDS:-20}
w=$build/tests/workloads
tmp=$(mktemp -d)
daemon=
cleanup() { [[ -n $daemon ]] && kill "$daemon" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

start_daemon() { # boost
	: >"$tmp/alerts.jsonl"
	"$build/mxwatch" --sampling-boost "$1" --sink "file:$tmp/alerts.jsonl" run 2>"$tmp/run.err" &
	daemon=$!
	for _ in $(seq 300); do grep -q watching "$tmp/run.err" && return; sleep 0.1; done
	echo "mxwatch did not start" >&2; cat "$tmp/run.err" >&2; exit 2
}
stop_daemon() { kill "$daemon"; wait "$daemon" || true; daemon=; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

tta() { # boost duty -> seconds to detect, or "miss"
	start_daemon "$1"
	"$w/mxw-randomx" --seconds 40 --duty "$2" >/dev/null 2>&1 &
	local miner=$! t
	for _ in $(seq 400); do
		t=$(python3 -c "
import json, sys
for line in open('$tmp/alerts.jsonl'):
    a = json.loads(line)
    if a['process']['pid'] == $miner and a['event']['action'] == 'miner-detected':
        print(f\"{a['mxwatch']['seconds_to_detect']:.2f}\"); break" 2>/dev/null || true)
		[[ -n $t ]] && break
		sleep 0.1
	done
	kill "$miner" 2>/dev/null; wait "$miner" 2>/dev/null || true
	stop_daemon
	echo "${t:-miss}"
}

cost() { # boost, workload... -> mxwatch CPU % of one core over cost_seconds
	local boost=$1; shift
	start_daemon "$boost"
	"$@" >/dev/null 2>&1 &
	local load=$!
	sleep 1
	local before after
	before=$(cpu_ticks "$daemon")
	sleep "$cost_seconds"
	after=$(cpu_ticks "$daemon")
	kill "$load" 2>/dev/null; wait "$load" 2>/dev/null || true
	stop_daemon
	awk -v a="$after" -v b="$before" -v hz="$hz" -v s="$cost_seconds" 'BEGIN { printf "%.2f", 100 * (a - b) / hz / s }'
}

median_p95() { python3 -c "
import sys
v = sorted(float(x) for x in sys.argv[1:] if x != 'miss')
miss = sum(1 for x in sys.argv[1:] if x == 'miss')
def q(p):
    if not v: return float('nan')
    r = p * (len(v) - 1); lo = int(r); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (r - lo)
print(f'{len(v)}/{len(v)+miss} {q(0.5):.2f} {q(0.95):.2f} max {max(v) if v else float(\"nan\"):.2f}')" "$@"; }

printf "%-10s %-6s %-10s %8s %8s %8s\n" "workload" "boost" "detected" "p50 (s)" "p95 (s)" "max (s)"
for duty in "${duties[@]}"; do
	for boost in 1 10; do
		results=()
		for ((r = 0; r < runs; r++)); do results+=("$(tta "$boost" "$duty")"); done
		read -r det p50 p95 _ max <<<"$(median_p95 "${results[@]}")"
		printf "%-10s %-6s %-10s %8s %8s %8s   (%s)\n" "duty $duty%" "${boost}x" "$det" "$p50" "$p95" "$max" "${results[*]}"
	done
done
echo
printf "%-40s %-6s %s\n" "one followed thread, ${cost_seconds}s" "boost" "mxwatch CPU % of one core"
for boost in 1 10; do
	printf "%-40s %-6s %s\n" "mxw-randomx --duty 2" "${boost}x" "$(cost "$boost" "$w/mxw-randomx" --duty 2 --seconds $((cost_seconds + 5)))"
	printf "%-40s %-6s %s\n" "mxw-fixed-mode --mode 2" "${boost}x" "$(cost "$boost" "$w/mxw-fixed-mode" --mode 2 --seconds $((cost_seconds + 5)))"
done
printf "%-40s %-6s %s\n" "nothing followed" "10x" "$(cost 10 sleep $((cost_seconds + 5)))"
echo "($runs runs per row, $(nproc) CPUs, $(uname -r), sampling floor 50 Hz)"
