#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# What an alert's evidence costs (docs/performance.md): a real RandomX hasher
# (light mode, logged in to a stratum-like pool on loopback) is measured by
# mxw-evidence-cost, step by step, ROUNDS times each.
#   sudo bench/evidence_cost.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-50}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/tests/workloads/mxw-stratum" --port "$port" --seconds 300 >"$work/pool.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/pool.out" 2>/dev/null && break; sleep 0.1; done
for exe in mxw-randomx mxw-randomx-xmrig-banner; do
	"$build/tests/workloads/$exe" --pool-port "$port" --seconds 300 >/dev/null &
	miner=$!
	pids+=($miner)
	sleep 3 # the 256 MiB cache is built, hashing has started
	echo "== $exe (pid $miner, $(du -k "$build/tests/workloads/$exe" | cut -f1) KiB executable, $(awk '/VmRSS/{print $2}' /proc/$miner/status) KiB resident)"
	"$build/bench/mxw-evidence-cost" "$miner" "$rounds"
	kill "$miner"
done
