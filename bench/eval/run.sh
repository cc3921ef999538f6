#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The detection evaluation, one command:
#
#   sudo bench/eval/run.sh [BUILD_DIR] [RUNS] [SECONDS]
#
# Runs every workload RUNS times (default 3) for SECONDS (default 8) while
# `mxwatch record` records what the kernel sends, each workload alone in its
# own cgroup v2 directory; then mxw-evaluate applies mxwatch's detector and the
# reference rules to the same recordings and prints the table
# (docs/detection.md explains it). Recordings stay in BUILD_DIR/eval/.
#
# Environment:
#   BENIGN_SECONDS     how long each benign workload runs (default: SECONDS; the
#                      issue's evaluation uses 60); fenv-cycle-random always runs 60 s
#   MXW_EVAL_RANDOMX_DIR  a directory with locally built RandomX variants
#                      (mxw-randomx-stock, mxw-randomx-x87, mxw-randomx-x87-noftz-sticky,
#                      same options as mxw-randomx plus --v2): adds their rows. They are
#                      never part of the repository or the build.
#   ONLY               a regular expression: run only the workloads whose name matches
#   EVAL_OUT           where recordings and the manifest go (default BUILD_DIR/eval)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
runs=${2:-3}
seconds=${3:-8}
benign_seconds=${BENIGN_SECONDS:-$seconds}
only=${ONLY:-.}
w=$build/tests/workloads
out=${EVAL_OUT:-$build/eval}
mkdir -p "$out"
rm -f "$out"/*.jsonl
cgroot=$(findmnt -t cgroup2 -n -o TARGET | head -n1)
[[ -n $cgroot ]] || { echo "run.sh: no cgroup2 mount found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rmdir "$cgroot"/mxw-eval-* 2>/dev/null || true' EXIT

# A renamed copy: the process name (comm) says nothing about RandomX.
cp "$w/mxw-randomx" "$tmp/kworker-u8"

respawn() { # workers that live 1.5 s each, like a miner evading per-process state
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do "$w/mxw-randomx" --seconds 1.5; done
}
compile_loop() {
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do
		g++ -std=c++20 -O2 -I"$build/../include" -I"$build/generated" -c "$build/../src/detect/detector.cpp" -o "$tmp/d.o"
	done
}
python_loop() {
	python3 -c "
import math, time, fractions, statistics
end = time.time() + $1
acc = 0.0
while time.time() < end:
    xs = [math.sin(i) * math.exp(-i / 1000) for i in range(20000)]
    acc += statistics.fmean(xs) + math.fsum(xs) + float(fractions.Fraction(1, 3))
print(acc)"
}

# name | class | command | seconds it runs (default: SECONDS)
b=$benign_seconds
workloads=(
	"randomx-jit-1t|miner|$w/mxw-randomx --seconds $seconds"
	"randomx-jit-2t|miner|$w/mxw-randomx --seconds $seconds --threads 2"
	"randomx-interpreter|miner|$w/mxw-randomx --seconds $seconds --interpreter"
	"randomx-throttled-10pct|miner|$w/mxw-randomx --seconds $seconds --duty 10"
	"randomx-throttled-2pct|miner|$w/mxw-randomx --seconds $seconds --duty 2"
	"randomx-renamed|miner|$tmp/kworker-u8 --seconds $seconds"
	"randomx-respawning|miner|respawn $seconds"
	"cfround-no-ftz-daz|miner|$w/mxw-cfround --seconds $seconds"
	# The evasions (tests/workloads/cfround_evasive.c): x87 word loaded like fesetround(),
	# FTZ/DAZ clear, sticky flags kept, with the light-mode cache's 256 MiB; RandomX v2.
	"evasive-x87-256mib|miner|$w/mxw-cfround-evasive --x87 --ftz-daz --alloc-mib 256 --seconds $seconds"
	"evasive-x87-sticky-noftz|miner|$w/mxw-cfround-evasive --x87 --sticky --alloc-mib 256 --seconds $seconds"
	"evasive-x87-2t|miner|$w/mxw-cfround-evasive --x87 --sticky --alloc-mib 256 --threads 2 --seconds $seconds"
	"evasive-x87-throttled-10pct|miner|$w/mxw-cfround-evasive --x87 --sticky --alloc-mib 256 --duty 10 --seconds $seconds"
	"v2-like|miner|$w/mxw-cfround-evasive --v2 --ftz-daz --seconds $seconds"
	"v2-like-x87-256mib|miner|$w/mxw-cfround-evasive --v2 --x87 --sticky --alloc-mib 256 --seconds $seconds"
	"interval-boost|benign|$w/mxw-interval --seconds $b|$b"
	"fixed-mode-up|benign|$w/mxw-fixed-mode --mode 2 --seconds $b|$b"
	"fixed-mode-toward-zero|benign|$w/mxw-fixed-mode --mode 3 --seconds $b|$b"
	"fp-work-ofast|benign|$w/mxw-fp-work-ofast --seconds $b|$b"
	"fenv-cycle-1ms|benign|$w/mxw-fenv-cycle --seconds $b --block-us 1000|$b"
	"fenv-cycle-100ms|benign|$w/mxw-fenv-cycle --seconds $b --block-us 100000|$b"
	"fenv-cycle-random-60s|benign|$w/mxw-fenv-cycle --random --seconds 60|60"
	"stress-ng-cpu-all|benign|stress-ng --cpu 2 --cpu-method all --timeout ${b}s --quiet|$b"
	"stress-ng-fp-error|benign|stress-ng --fp-error 2 --timeout ${b}s --quiet|$b"
	"compiler-g++|benign|compile_loop $b|$b"
	"cgal-exact-predicates|benign|$w/mxw-cgal --seconds $b|$b"
	"python3|benign|python_loop $b|$b"
)
# Real RandomX built from source with the rounding evasions patched in (local only).
if [[ -n ${MXW_EVAL_RANDOMX_DIR:-} ]]; then
	x=$MXW_EVAL_RANDOMX_DIR
	for v in stock x87 x87-noftz-sticky; do
		[[ -x $x/mxw-randomx-$v ]] || { echo "run.sh: $x/mxw-randomx-$v missing" >&2; exit 2; }
	done
	workloads+=(
		"src-randomx-stock|miner|$x/mxw-randomx-stock --seconds $seconds"
		"src-randomx-x87-jit|miner|$x/mxw-randomx-x87 --seconds $seconds"
		"src-randomx-x87-interpreter|miner|$x/mxw-randomx-x87 --seconds $seconds --interpreter"
		"src-randomx-x87-noftz-sticky|miner|$x/mxw-randomx-x87-noftz-sticky --seconds $seconds"
		"src-randomx-x87-noftz-sticky-int|miner|$x/mxw-randomx-x87-noftz-sticky --seconds $seconds --interpreter"
		"src-randomx-x87-2t|miner|$x/mxw-randomx-x87 --seconds $seconds --threads 2"
		"src-randomx-x87-throttled-10pct|miner|$x/mxw-randomx-x87 --seconds $seconds --duty 10"
		"src-randomx-v2|miner|$x/mxw-randomx-stock --seconds $seconds --v2"
		"src-randomx-v2-x87|miner|$x/mxw-randomx-x87-noftz-sticky --seconds $seconds --v2"
	)
fi

manifest=$out/manifest.jsonl
: >"$manifest"
for ((run = 1; run <= runs; run++)); do
	for entry in "${workloads[@]}"; do
		IFS='|' read -r name class cmd runs_for <<<"$entry"
		[[ $name =~ $only ]] || continue
		runs_for=${runs_for:-$seconds}
		rec=$out/$name.$run.jsonl
		cg=$cgroot/mxw-eval-$name-$run
		mkdir -p "$cg"
		"$build/mxwatch" record --raw -o "$rec" --duration $((runs_for + 4)) 2>"$tmp/record.err" &
		recorder=$!
		for _ in $(seq 100); do grep -q attached "$tmp/record.err" && break; sleep 0.1; done
		# The workload and everything it starts run in the cgroup.
		( echo "$BASHPID" >"$cg/cgroup.procs"; eval "$cmd" ) >/dev/null 2>&1 || true
		wait "$recorder" || { cat "$tmp/record.err" >&2; exit 2; }
		printf '{"workload":"%s","class":"%s","run":%d,"recording":"%s","cgroup":%s}\n' \
			"$name" "$class" "$run" "$rec" "$(stat -c %i "$cg")" >>"$manifest"
		# Gone already if something else cleaned up empty cgroups meanwhile (seen once).
		rmdir "$cg" 2>/dev/null || true
		echo "run $run/$runs: $name" >&2
	done
done
echo
"$build/bench/mxw-evaluate" "$manifest" --json "$out/results.json"
echo "($runs runs per workload: miners ${seconds}s, benign ${benign_seconds}s; $(nproc) CPUs, $(uname -r); recordings in $out)"
