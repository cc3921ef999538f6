#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# mxwatch's performance benchmark, one command (issue #7; docs/performance.md):
#
#   sudo bench/perf/run.sh [BUILD_DIR] [--quick] [--rounds N] [--pipe-loops N] [--only STEP]...
#                          [--bpf-object LABEL=OBJECT:PROGRAM]...
#                          [--replay-file RECORDING] [--replay-against LABEL=MXWATCH]...
#
# BPF cost per tracepoint hit (mxwatch, the original bpftrace script, empty
# programs as the floor), `perf bench sched pipe` throughput with and without
# mxwatch, daemon CPU per million records and with two RandomX threads, RSS
# steady and under process churn, replay throughput. Variants alternate and
# repeat; medians and ratios come from this run. Prints a table with the goal
# and PASS/GAP per line. Needs root, bpftool, bpftrace, linux-perf.
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/perf.py" "$@"
