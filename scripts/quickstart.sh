#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# One command from a fresh Debian 12 clone to a running detector or a full test run.
#
#   sudo scripts/quickstart.sh run    install, build, then `mxwatch run` (Ctrl-C stops it)
#   sudo scripts/quickstart.sh check  install, build, then `mxwatch check --duration 30`
#   sudo scripts/quickstart.sh test   install, build, then every test (unit, integration, kernels)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MXWATCH_BUILD_DIR:-$here/build}
what=${1:-}
case "$what" in
run | check | test) ;;
*)
	echo "usage: $0 run|check|test" >&2
	exit 2
	;;
esac

"$here/scripts/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"

case "$what" in
run) exec "$build/mxwatch" run ;;
check) exec "$build/mxwatch" check --duration 30 ;;
test) cd "$build" && exec ctest --output-on-failure --timeout 1800 ;;
esac
