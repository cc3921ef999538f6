#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the kernel-matrix initramfs (PID 1 inside the qemu guest).
#
# It reports what the kernel offers (BTF, the x86_fpu tracepoint), runs the
# mxwatch scenario when the initramfs carries mxwatch (a busybox-only "probe"
# initramfs skips it), prints every result between "=== MXW BEGIN <name> ==="
# and "=== MXW END <name> ===" markers on the console (ttyS0), and powers off.
# The host side (check-serial.py) reads only what lies between the markers.
#
# No "set -e": PID 1 must reach "poweroff -f" whatever fails, otherwise the
# kernel panics and the host sees a reboot instead of the results.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# Optional: tracefs/debugfs let us show the tracepoint's format file; mxwatch
# itself attaches through BTF and needs neither.
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# Only emergencies on the console from now on: a kernel warning printed in the
# middle of the JSON document would make it unparseable on the host.
echo 1 >/proc/sys/kernel/printk

# Guest seconds since boot, to show where the time goes under TCG.
uptime_s() { cut -d' ' -f1 /proc/uptime; }

begin() { echo "=== MXW BEGIN $1 ==="; }
end() { echo "=== MXW END $1 ==="; }

# section NAME COMMAND...: run COMMAND with its output between markers.
section() {
    name=$1
    shift
    begin "$name"
    "$@" 2>&1
    end "$name"
}

report_environment() {
    echo "uname=$(uname -r)"
    echo "uptime=$(uptime_s)"
    if [ -e /sys/kernel/btf/vmlinux ]; then
        echo "btf=yes size=$(wc -c </sys/kernel/btf/vmlinux)"
    else
        echo "btf=no"
    fi
    sym=$(grep -m1 -E ' (__traceiter|__tracepoint|trace_event_raw_event)_x86_fpu_regs_deactivated$' /proc/kallsyms |
        cut -d' ' -f3)
    echo "tracepoint_symbol=${sym:-none}"
    tp=/sys/kernel/tracing/events/x86_fpu/x86_fpu_regs_deactivated
    if [ -d "$tp" ]; then echo "tracefs_event=yes"; else echo "tracefs_event=no"; fi
    echo "cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'xsave|xsaveopt|xsavec|xsaves' | tr '\n' ' ')"
    echo "nproc=$(grep -c '^processor' /proc/cpuinfo)"
}

# cmdline_value KEY DEFAULT: the value of KEY=... on the kernel command line.
cmdline_value() {
    # shellcheck disable=SC2013 # the command line is a list of words
    for word in $(cat /proc/cmdline); do
        case $word in "$1"=*) echo "${word#*=}"; return ;; esac
    done
    echo "$2"
}

# The scenario of the matrix: mxwatch observes for 20 s while a synthetic
# miner (random rounding modes) and a benign fixed-mode program run for 12 s.
# run-matrix.sh may change both through mxw.check= and mxw.work=.
run_scenario() {
    check_s=$(cmdline_value mxw.check 20)
    work_s=$(cmdline_value mxw.work 12)
    echo "scenario: check ${check_s}s, workloads ${work_s}s"
    echo "scenario: start mxwatch at uptime=$(uptime_s)"
    # Guest-side bound: a hung mxwatch must not hold the VM until the host
    # timeout, which would lose every result.
    timeout $((check_s + 130)) mxwatch check --duration "$check_s" --json >/out.json 2>/err.log &
    mx_pid=$!

    # mxwatch needs a moment to load and attach (parsing vmlinux BTF is slow
    # under TCG); it logs to stderr. Wait at least 3 s and until it says it
    # attached (or 20 s more), so that the workloads run inside its window.
    sleep 3
    waited=0
    while [ $waited -lt 20 ] && ! grep -q -i 'attach' /err.log 2>/dev/null &&
        kill -0 $mx_pid 2>/dev/null; do
        sleep 1
        waited=$((waited + 1))
    done
    echo "scenario: start workloads at uptime=$(uptime_s) (waited ${waited}s for attach)"

    mxw-cfround --seconds "$work_s" >/cfround.log 2>&1 &
    cf_pid=$!
    mxw-fixed-mode --mode 2 --seconds "$work_s" >/fixed.log 2>&1 &
    fx_pid=$!

    wait $mx_pid
    mx_rc=$?
    echo "scenario: mxwatch exited rc=$mx_rc at uptime=$(uptime_s)"
    wait $cf_pid
    cf_rc=$?
    wait $fx_pid
    fx_rc=$?

    begin pids
    echo "cfround=$cf_pid"
    echo "fixed=$fx_pid"
    end pids
    begin rc
    echo "mxwatch=$mx_rc"
    echo "cfround=$cf_rc"
    echo "fixed=$fx_rc"
    end rc
    section stderr cat /err.log
    section json cat /out.json
    section workloads sh -c 'echo "-- cfround"; cat /cfround.log; echo "-- fixed"; cat /fixed.log'
}

echo
echo "=== MXW INIT START ==="
section environment report_environment
if [ -x /usr/local/bin/mxwatch ]; then
    run_scenario
else
    echo "no mxwatch in this initramfs: probe only"
fi
# The tail of the kernel log explains most failures (verifier, BTF, memlock).
section dmesg sh -c 'dmesg | tail -n 60'
echo "=== MXW POWEROFF uptime=$(uptime_s) ==="
sync
poweroff -f
# poweroff -f does not return; if it ever does, exiting PID 1 panics the
# kernel and "panic=-1" + qemu "-no-reboot" still ends the VM.
sleep 5
