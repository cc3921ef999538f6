#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs every Debian package mxwatch needs to build, run and test (Debian 12, root).
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config clang llvm bpftool
	libbpf-dev libelf-dev zlib1g-dev
	libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
	libcap-dev libcpp-httplib-dev
	# container metadata from containerd and CRI-O: the CRI (gRPC) client generated from proto/
	protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
	# alerts: which miner an executable is (YARA); the relp sink (acknowledged delivery)
	libyara-dev librelp-dev
	# tests and their workloads
	googletest libgtest-dev librandomx-dev libboost-dev
	# alerts: executable hashes (libcrypto); real peers for the sink tests; libFuzzer
	libssl-dev rsyslog rsyslog-relp systemd libclang-rt-14-dev
	# container metadata tests: a real Podman (its API socket) with runc, images built locally
	podman runc conmon tar
	# ... and a real containerd with its CRI plugin (tests/integration/containerd_cri_test.cpp)
	containerd
	# ... and a real Docker Engine (tests/integration/docker_container_test.cpp)
	docker.io
	# the http sink tests make a test CA
	openssl
	# the non-root test: setpriv
	util-linux
	# the evaluation's benign workloads (bench/eval), CGAL's exact predicates among them
	stress-ng python3 libcgal-dev
	# bench (bench/perf: the reference script, `perf bench sched pipe`)
	bpftrace linux-perf
	git procps
	# packaging: .deb (dpkg-shlibdeps), lifecycle test, lintian, manifest checks, nspawn smoke test
	dpkg-dev file man-db lintian python3-yaml yamllint mmdebstrap systemd-container
)
# The kernel matrix (tests/kernels) lists its own.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -f "$here/tests/kernels/packages.txt" ]]; then
	while read -r pkg _; do
		[[ -n "$pkg" && "$pkg" != \#* ]] && packages+=("$pkg")
	done <"$here/tests/kernels/packages.txt"
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps.sh: needs root to install packages (run it with sudo)" >&2
	exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Prometheus, promtool and Alertmanager for the metrics, rules and fleet tests,
# taken from Debian's prometheus and prometheus-alertmanager packages without
# installing them: installing would enable and start both servers on this host.
# The tests run them with private configuration and data directories.
tools=/opt/mxwatch-test-tools
# Debian's Alertmanager reads its notification templates from a fixed path: they go
# where its package would put them (data files only).
templates=/usr/share/prometheus/alertmanager
if [[ ! -x $tools/bin/promtool || ! -x $tools/bin/prometheus || ! -x $tools/bin/prometheus-alertmanager ||
	! -f $templates/default.tmpl ]]; then
	scratch=$(mktemp -d)
	chmod 0755 "$scratch" # apt downloads as _apt
	(cd "$scratch" && apt-get download -qq prometheus prometheus-alertmanager >/dev/null &&
		for deb in ./*.deb; do dpkg-deb -x "$deb" root; done)
	for tool in promtool prometheus prometheus-alertmanager; do
		install -D -m 0755 "$scratch/root/usr/bin/$tool" "$tools/bin/$tool"
	done
	install -D -m 0644 -t "$templates" "$scratch/root$templates"/*.tmpl
	rm -rf "$scratch"
fi
echo "install-deps.sh: ${#packages[@]} packages present; promtool, prometheus and prometheus-alertmanager in $tools/bin"
