#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel test matrix: boot real Debian kernels under qemu (TCG, no KVM needed)
# and prove on each that mxwatch loads, attaches, picks the right `struct fpu`
# layout and tells a synthetic miner from a benign fixed-rounding program.
#
#   tests/kernels/run-matrix.sh [--table FILE] [--log-dir DIR] BUILD_DIR [kernel...]
#   tests/kernels/run-matrix.sh --probe [--log-dir DIR] [kernel...]
#
# kernel: 5.10, 6.1 or 6.12 (default: all three). --table FILE writes the
# markdown support table (into docs/kernels.md: between its table markers).
# --probe boots a busybox-only initramfs and checks just BTF and the
# tracepoint (no mxwatch build needed).
# See docs/kernels.md for what is asserted and the latest support table.
#
# Environment:
#   MXW_KERNEL_CACHE    where downloaded .debs and extracted kernels are kept
#                       between runs (default /var/cache/mxwatch/kernels)
#   MXW_KERNEL_REFRESH  1 = ask the archive for the newest package even when
#                       one is cached (default: use the cache, no network)
#   MXW_DEBIAN_MIRROR   archive for the temporary suites
#                       (default http://deb.debian.org/debian)
#   MXW_SUITES_<series> where to look for a series instead of the built-in
#                       list, e.g. MXW_SUITES_6_12="bookworm-backports"
#   MXW_BOOT_TIMEOUT    seconds one VM may run (default 300)
#   MXW_CHECK_SECONDS   `mxwatch check --duration` in the guest (default 20)
#   MXW_WORK_SECONDS    how long the two workloads run (default 12)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MXW_KERNEL_CACHE:-/var/cache/mxwatch/kernels}
REFRESH=${MXW_KERNEL_REFRESH:-0}
MIRROR=${MXW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BOOT_TIMEOUT=${MXW_BOOT_TIMEOUT:-300}
CHECK_SECONDS=${MXW_CHECK_SECONDS:-20}
WORK_SECONDS=${MXW_WORK_SECONDS:-12}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DEFAULT_KERNELS=(5.10 6.1 6.12)

# Where each kernel series comes from, tried in order. "system" means the
# host's own apt sources (Debian 12 bookworm); any other word is a suite that
# is added only temporarily, in isolation (see apt_isolated).
declare -A KERNEL_SUITES=(
    [5.10]="bullseye"
    [6.1]="system"
    [6.12]="trixie bookworm-backports"
)

WORK=""      # per-run temp dir, removed on exit
STATUS=0     # becomes 1 when a kernel fails
QEMU_PID=""  # the running VM's `timeout` wrapper, stopped if we are interrupted

cleanup() {
    # The temporary apt source lives in $WORK, so removing $WORK removes it:
    # the host's apt configuration is never touched.
    [[ -n $WORK && -d $WORK ]] && rm -rf -- "$WORK"
    return 0
}
on_signal() {
    # `timeout` passes the signal on to qemu.
    [[ -n $QEMU_PID ]] && kill -TERM "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

log() { echo "[run-matrix] $*" >&2; }
die() {
    log "error: $*"
    exit 2
}

usage() {
    sed -n '/^#   tests/,/^#   MXW_WORK_SECONDS/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

# ---------------------------------------------------------------------------
# Kernel packages
# ---------------------------------------------------------------------------

# apt_isolated SUITE APT-COMMAND ARGS...: run an apt command that sees ONLY
# SUITE. The source file and the package lists are private to this script
# (source in $WORK, lists under the cache), so neither the host's sources nor
# its package lists change, and a concurrent apt run is not disturbed.
apt_isolated() {
    local suite=$1 cmd=$2
    shift 2
    local src=$WORK/apt/$suite.list lists=$CACHE/apt-lists/$suite
    mkdir -p "$WORK/apt" "$lists/partial"
    echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >"$src"
    # apt downloads as the unprivileged _apt user: let it write the lists.
    chown -R _apt "$lists" 2>/dev/null || true
    "$cmd" -q \
        -o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$lists" -o APT::Get::List-Cleanup=0 \
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
        "$@"
}

# apt_in SUITE COMMAND ARGS...: apt_isolated, or plain apt for "system".
apt_in() {
    local suite=$1
    shift
    if [[ $suite == system ]]; then
        "$@"
    else
        apt_isolated "$suite" "$@"
    fi
}

# Regex for the generic amd64 image of a series: linux-image-5.10.0-32-amd64-unsigned,
# linux-image-6.12.117+deb13-amd64-unsigned; not the -cloud- or -rt- flavours,
# and "6.1" must not match 6.12.
package_regex() {
    local series=${1//./\\.}
    echo "^linux-image-${series}[.-][^ ]*[0-9]-amd64-unsigned\$"
}

# newest_package SUITE SERIES: the newest unsigned kernel image of SERIES
# that SUITE offers (empty when none).
newest_package() {
    local suite=$1 series=$2
    { apt_in "$suite" apt-cache search --names-only "$(package_regex "$series")" 2>/dev/null || true; } |
        cut -d' ' -f1 | sort -V | tail -n1
}

# cached_deb SERIES: the newest .deb of SERIES already in the cache.
cached_deb() {
    local series=$1
    local re
    re=$(package_regex "$series")
    re=${re%\$}
    find "$CACHE" -maxdepth 1 -name 'linux-image-*_amd64.deb' -printf '%f\n' 2>/dev/null |
        { grep -E "${re}_" || true; } | sort -V | tail -n1
}

# download_series SERIES: download the newest image of SERIES from the first
# suite that has it; record the suite beside the .deb. Prints the file name.
download_series() {
    local series=$1 suite pkg deb
    for suite in $(suites_for "$series"); do
        log "$series: looking in $suite"
        if [[ $suite == system ]]; then
            # The host's lists may be missing or stale (fresh CI machine).
            [[ -n $(newest_package system "$series") ]] || apt-get -q update >&2 || true
        else
            apt_isolated "$suite" apt-get update >&2 || {
                log "$series: apt-get update of $suite failed"
                continue
            }
        fi
        pkg=$(newest_package "$suite" "$series")
        if [[ -z $pkg ]]; then
            log "$series: $suite has no $series image"
            continue
        fi
        local version
        version=$(apt_in "$suite" apt-cache show --no-all-versions "$pkg" 2>/dev/null |
            awk '/^Version:/ { print $2; exit }')
        deb=${pkg}_${version//:/%3a}_amd64.deb
        if [[ -n $version && -s $CACHE/$deb ]]; then
            log "$series: $deb from $suite is already cached"
            echo "$deb"
            return 0
        fi
        log "$series: downloading $pkg $version from $suite"
        # apt-get download writes into the current directory as the _apt
        # user: give it a directory of its own, then move the file in place.
        local incoming=$CACHE/incoming
        rm -rf "$incoming" && mkdir -p "$incoming"
        chown _apt "$incoming" 2>/dev/null || true
        if ! (cd "$incoming" && apt_in "$suite" apt-get download "$pkg" >&2); then
            log "$series: download of $pkg from $suite failed"
            rm -rf "$incoming"
            continue
        fi
        mv "$incoming"/*.deb "$CACHE"/ && rm -rf "$incoming"
        deb=$(find "$CACHE" -maxdepth 1 -name "${pkg}_*_amd64.deb" -printf '%f\n' | sort -V | tail -n1)
        [[ -n $deb ]] || continue
        if [[ $suite == system ]]; then
            echo "bookworm (host sources)" >"$CACHE/$deb.source"
        else
            echo "$suite" >"$CACHE/$deb.source"
        fi
        echo "$deb"
        return 0
    done
    return 1
}

# suites_for SERIES: KERNEL_SUITES[SERIES], unless the environment overrides
# it (MXW_SUITES_6_12="bookworm-backports" pins 6.12 to the backports).
suites_for() {
    local var=MXW_SUITES_${1//./_}
    echo "${!var:-${KERNEL_SUITES[$1]}}"
}

# fetch_kernel SERIES: make sure a kernel of SERIES is cached and extracted.
# Sets KERNEL_DEB, KERNEL_IMAGE, KERNEL_PACKAGE, KERNEL_VERSION, KERNEL_SOURCE.
fetch_kernel() {
    local series=$1 deb=""
    [[ -n ${KERNEL_SUITES[$series]:-} ]] || die "unknown kernel '$series' (known: ${!KERNEL_SUITES[*]})"
    mkdir -p "$CACHE"
    [[ $REFRESH == 1 ]] || deb=$(cached_deb "$series")
    if [[ -n $deb ]]; then
        log "$series: using cached $deb"
    else
        deb=$(download_series "$series") || die "$series: none of the suites '$(suites_for "$series")' provided a kernel"
    fi
    KERNEL_DEB=$CACHE/$deb
    KERNEL_PACKAGE=$(dpkg-deb -f "$KERNEL_DEB" Package)
    KERNEL_VERSION=$(dpkg-deb -f "$KERNEL_DEB" Version)
    KERNEL_SOURCE=$(cat "$KERNEL_DEB.source" 2>/dev/null || echo unknown)
    KERNEL_IMAGE=$KERNEL_DEB.vmlinuz
    if [[ ! -s $KERNEL_IMAGE ]]; then
        # Only /boot/vmlinuz-* is needed: the matrix boots without modules.
        log "$series: extracting vmlinuz from $deb"
        local x=$WORK/extract-$series
        mkdir -p "$x"
        dpkg-deb --fsys-tarfile "$KERNEL_DEB" | tar -x -C "$x" --wildcards './boot/vmlinuz-*'
        mv "$x"/boot/vmlinuz-* "$KERNEL_IMAGE.tmp" && mv "$KERNEL_IMAGE.tmp" "$KERNEL_IMAGE"
        rm -rf "$x"
    fi
}

# ---------------------------------------------------------------------------
# Initramfs
# ---------------------------------------------------------------------------

# install_with_libs STAGE BINARY DEST: copy BINARY to STAGE/DEST together with
# every shared library ldd lists and the dynamic loader, each at the same path
# as on the host, so the guest needs nothing from the host's root file system.
install_with_libs() {
    local stage=$1 bin=$2 dest=$3 lib out
    install -D -m 0755 "$bin" "$stage$dest"
    if ! out=$(ldd "$bin" 2>&1); then
        [[ $out == *"not a dynamic executable"* ]] && return 0
        die "ldd $bin: $out"
    fi
    if grep -q 'not found' <<<"$out"; then
        die "ldd $bin: missing libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
    fi
    # "libx.so => /lib/x86_64-linux-gnu/libx.so (0x...)" and the loader line
    # "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no path.
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out" |
        while read -r lib; do
            [[ -e $stage$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
        done
}

# build_initramfs OUT [BUILD_DIR]: a gzip'ed newc cpio with static busybox,
# the /init scenario and, when BUILD_DIR is given, mxwatch and its workloads.
build_initramfs() {
    local out=$1 build=${2:-} stage=$WORK/initramfs
    local busybox
    busybox=$(command -v busybox) || die "busybox not found (install busybox-static)"
    ldd "$busybox" >/dev/null 2>&1 && die "$busybox is dynamically linked (install busybox-static)"

    rm -rf "$stage"
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,run,etc,root}
    install -m 0755 "$busybox" "$stage/bin/busybox"
    install -m 0755 "$HERE/init.sh" "$stage/init"
    # The kernel opens /dev/console for PID 1 before anything is mounted.
    mknod -m 0600 "$stage/dev/console" c 5 1 2>/dev/null || true
    # Enough identity for user-name lookups (getpwuid) to succeed.
    echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
    echo 'root:x:0:' >"$stage/etc/group"
    echo 0123456789abcdef0123456789abcdef >"$stage/etc/machine-id"
    echo mxwatch-kernel-matrix >"$stage/etc/hostname"

    if [[ -n $build ]]; then
        install_with_libs "$stage" "$build/mxwatch" /usr/local/bin/mxwatch
        install_with_libs "$stage" "$build/tests/workloads/mxw-cfround" /usr/local/bin/mxw-cfround
        install_with_libs "$stage" "$build/tests/workloads/mxw-fixed-mode" /usr/local/bin/mxw-fixed-mode
    fi

    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
        gzip -1 >"$out"
    log "initramfs: $(du -h "$out" | cut -f1) ($(find "$stage" -type f | wc -l) files)"
}

# ---------------------------------------------------------------------------
# Boot and check
# ---------------------------------------------------------------------------

# boot_kernel IMAGE INITRAMFS LOG: boot under TCG, serial console to LOG, and
# set BOOT_SECONDS (host wall time from qemu start to its exit).
boot_kernel() {
    local image=$1 initrd=$2 serial=$3 start end rc=0
    start=$(date +%s.%N)
    # -no-reboot + panic=-1: a panicking or exiting init ends qemu at once.
    # stdin from /dev/null: -nographic would otherwise put the terminal in raw
    # mode and the qemu monitor on it.
    # In the background + wait, so that a signal to this script is handled
    # at once (bash runs traps only after a foreground child has exited).
    timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 \
        -accel tcg -cpu max -m 1024 -smp 2 \
        -nographic -no-reboot -nic none \
        -kernel "$image" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 quiet mxw.check=$CHECK_SECONDS mxw.work=$WORK_SECONDS" \
        </dev/null >"$serial" 2>"$serial.qemu-stderr" &
    QEMU_PID=$!
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=""
    end=$(date +%s.%N)
    BOOT_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    BOOT_RC=$rc
    if [[ $rc == 124 || $rc == 137 ]]; then
        log "qemu timed out after ${BOOT_TIMEOUT}s"
    elif [[ $rc != 0 ]]; then
        log "qemu exited with $rc: $(tr '\n' ' ' <"$serial.qemu-stderr")"
    fi
}

main() {
    local table="" logdir="" probe=0 build=""
    while [[ $# -gt 0 ]]; do
        case $1 in
        --table) table=${2:?--table needs a file}; shift 2 ;;
        --log-dir) logdir=${2:?--log-dir needs a directory}; shift 2 ;;
        --probe) probe=1; shift ;;
        -h | --help) usage 0 ;;
        --) shift; break ;;
        -*) log "unknown option $1"; usage 2 >&2 ;;
        *) break ;;
        esac
    done
    if [[ $probe == 0 ]]; then
        [[ $# -ge 1 ]] || usage 2 >&2
        build=$(cd "$1" && pwd) || die "no build directory $1"
        shift
        for f in mxwatch tests/workloads/mxw-cfround tests/workloads/mxw-fixed-mode; do
            [[ -x $build/$f ]] || die "$build/$f is missing: build mxwatch first"
        done
    fi
    # The kernel cache lives under /var/cache. Skip (ctest's code 77) without
    # root, except under CI=true where the matrix must run.
    if [[ $(id -u) != 0 ]]; then
        [[ ${CI:-} == true ]] && die "the kernel matrix needs root (CI=true: not skipping)"
        log "skipped: the kernel matrix needs root"
        exit 77
    fi
    local kernels=("$@")
    [[ ${#kernels[@]} -gt 0 ]] || kernels=("${DEFAULT_KERNELS[@]}")
    for k in "${kernels[@]}"; do
        [[ -n ${KERNEL_SUITES[$k]:-} ]] || die "unknown kernel '$k' (known: ${!KERNEL_SUITES[*]})"
    done
    for tool in qemu-system-x86_64 cpio gzip dpkg-deb python3 timeout; do
        command -v "$tool" >/dev/null || die "$tool not found (see tests/kernels/packages.txt)"
    done

    if [[ -z $logdir ]]; then
        if [[ -n $build ]]; then logdir=$build/kernel-matrix; else logdir=/tmp/mxwatch-kernel-matrix; fi
    fi
    mkdir -p "$logdir"
    rm -f "$logdir"/*.result.json
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mxw-matrix.XXXXXX")

    # Fetch everything first: a download failure should not cost a boot.
    declare -A image package version source
    for k in "${kernels[@]}"; do
        fetch_kernel "$k"
        image[$k]=$KERNEL_IMAGE package[$k]=$KERNEL_PACKAGE
        version[$k]=$KERNEL_VERSION source[$k]=$KERNEL_SOURCE
    done

    # One initramfs serves every kernel: nothing in it is kernel-specific.
    build_initramfs "$WORK/initramfs.cpio.gz" "$build"

    local mode=full
    [[ $probe == 1 ]] && mode=probe
    for k in "${kernels[@]}"; do
        local serial=$logdir/serial-$k.log
        log "$k: booting ${package[$k]} ${version[$k]} (log: $serial)"
        boot_kernel "${image[$k]}" "$WORK/initramfs.cpio.gz" "$serial"
        python3 "$HERE/check-serial.py" check --mode "$mode" --kernel "$k" \
            --package "${package[$k]}" --version "${version[$k]}" --source "${source[$k]}" \
            --seconds "$BOOT_SECONDS" --qemu-rc "$BOOT_RC" \
            --result "$logdir/$k.result.json" "$serial" || STATUS=1
    done

    if [[ -n $table ]]; then
        local results=()
        for k in "${kernels[@]}"; do results+=("$logdir/$k.result.json"); done
        python3 "$HERE/check-serial.py" table --mode "$mode" --output "$table" "${results[@]}"
        log "table written to $table"
    fi
    log "serial logs in $logdir"
    return "$STATUS"
}

main "$@"
