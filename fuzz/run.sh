#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds the libFuzzer harnesses (clang, ASan, UBSan) and runs each for SECONDS.
#
#   fuzz/run.sh [--build-dir DIR] [--only NAME,...] [SECONDS]
#
# (default: build/fuzz, every harness, 60 s each). Harnesses: decode_record,
# cgroup_path, proc_net, alert_format, sample_file, container_json, cri_reply.
#
# Corpora grow in DIR/corpus/<harness> (seeded from fuzz/corpus/<harness> and
# tests/fixtures); crashes are written to DIR/artifacts/<harness>/ and make the
# script fail. A summary line per harness reports runs, time and coverage.
# Exit status: 0 nothing found, 1 a harness crashed, 77 no clang/libFuzzer here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$here/build/fuzz"
seconds=60
only=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--build-dir) build=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) seconds=$1; shift ;;
	esac
done

if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
	echo "fuzz/run.sh: clang++ with libFuzzer is missing (apt-get install clang libclang-rt-14-dev)" >&2
	exit 77
fi

mkdir -p "$build"
if ! { cmake -S "$here/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ &&
	cmake --build "$build" -j"${FUZZ_JOBS:-2}"; } >"$build/build.log" 2>&1; then
	cat "$build/build.log" >&2
	exit 1
fi

names=(decode_record cgroup_path proc_net alert_format sample_file container_json cri_reply)
[[ -n $only ]] && IFS=, read -r -a names <<<"$only"
status=0
for name in "${names[@]}"; do
	harness=${name}_fuzzer
	corpus="$build/corpus/$name"
	artifacts="$build/artifacts/$name"
	mkdir -p "$corpus" "$artifacts"
	[[ -d "$here/fuzz/corpus/$name" ]] && cp -n "$here/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	if [[ $name == sample_file ]]; then
		for fixture in "$here"/tests/fixtures/*.jsonl; do
			head -c 4096 "$fixture" >"$corpus/fixture-$(basename "$fixture")"
		done
	fi
	log="$build/$name.log"
	start=$(date +%s)
	# -timeout: an input that takes a second is a hang; -rss_limit_mb bounds memory.
	if "$build/$harness" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
		result=ok
	else
		result=FAILED
		status=1
	fi
	took=$(($(date +%s) - start))
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
	echo "fuzz $name: $result, ${took} s, $runs runs, coverage $cov edges, corpus $(ls "$corpus" | wc -l) inputs"
	if [[ $result == FAILED ]]; then
		grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 >&2 || true
		echo "fuzz $name: crash inputs in $artifacts, log in $log" >&2
	fi
done
exit $status
