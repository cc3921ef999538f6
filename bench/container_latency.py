#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The latency container lookups add to the first alert (docs/performance.md).

Runs real RandomX in Podman containers (an image built here from scratch: the
hasher and its shared libraries) while `mxwatch run --sink stdout` watches, in
three modes:

  answering  Podman's API socket (`podman system service`, private) answers
  off        --no-container-lookups: nothing is asked, nothing waits
  hanging    the socket accepts and never answers: the first alert waits
             --container-wait (500 ms) and goes out without the names

and reports, per mode, the time from the alert's @timestamp (the detection) to
the line arriving on mxwatch's stdout: median and p95 over RUNS containers.

  sudo flock /tmp/mxwatch-bpf.lock bench/container_latency.py --build build [--runs 10]
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone


def podman_argv(state):
    return ["podman", "--root", f"{state}/storage", "--runroot", f"{state}/run", "--storage-driver", "vfs",
            "--runtime", "/usr/sbin/runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def build_image(state, hasher, reference):
    rootfs = os.path.join(state, "rootfs")
    os.makedirs(rootfs)
    shutil.copy(hasher, rootfs)
    for line in subprocess.run(["ldd", hasher], check=True, capture_output=True, text=True).stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            dest = rootfs + m.group(1)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(os.path.realpath(m.group(1)), dest)
    tar = os.path.join(state, "image.tar")
    subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
    entry = os.path.basename(hasher)
    subprocess.run(podman_argv(state) + ["import", "--change", f'ENTRYPOINT ["/{entry}"]', tar, reference],
                   check=True, capture_output=True)


def hanging_socket(path):
    """Accepts connections and never answers."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    held = []

    def serve():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return server


def unix_seconds(stamp):
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Daemon:
    def __init__(self, mxwatch, args, log):
        self.proc = subprocess.Popen([mxwatch, "--sink", "stdout"] + args + ["run"], stdout=subprocess.PIPE,
                                     stderr=open(log, "w"), text=True, bufsize=1)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + 60
        while "attached" not in open(log).read():
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"mxwatch did not attach: {open(log).read()}")
            time.sleep(0.1)

    def _read(self):
        for line in self.proc.stdout:
            arrived = time.time()
            with self.cond:
                self.lines.append((arrived, line))
                self.cond.notify_all()

    def first_alert(self, container_id, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for arrived, line in self.lines:
                    try:
                        alert = json.loads(line)
                    except ValueError:
                        continue
                    if (alert.get("container", {}).get("id") == container_id and
                            alert.get("event", {}).get("action") == "miner-detected"):
                        return arrived, alert
                left = deadline - time.time()
                if left <= 0:
                    return None, None
                self.cond.wait(left)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--modes", default="answering,off,hanging")
    args = parser.parse_args()
    mxwatch = os.path.abspath(os.path.join(args.build, "mxwatch"))
    hasher = os.path.abspath(os.path.join(args.build, "tests/workloads/mxw-randomx"))
    state = tempfile.mkdtemp(prefix="mxw-bench-containers-")
    reference = "localhost/mxw-randomx:bench"
    service = None
    try:
        build_image(state, hasher, reference)
        podman_sock = os.path.join(state, "podman.sock")
        service = subprocess.Popen(podman_argv(state) + ["system", "service", "--time=0", "unix://" + podman_sock],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(podman_sock):
            time.sleep(0.05)
        hang_sock = os.path.join(state, "hang.sock")
        hanging = hanging_socket(hang_sock)
        options = {
            "answering": ["--podman-socket", podman_sock],
            "off": ["--no-container-lookups"],
            "hanging": ["--podman-socket", hang_sock],
        }
        results = {}
        for mode in args.modes.split(","):
            daemon = Daemon(mxwatch, options[mode], os.path.join(state, f"{mode}.log"))
            latencies, named = [], 0
            for i in range(args.runs):
                name = f"mxw-bench-{mode}-{i}"
                run = subprocess.run(podman_argv(state) + ["run", "--detach", "--name", name, "--network", "none",
                                                           "--ulimit", "nofile=1024:1024", "--ulimit",
                                                           "nproc=1000:1000", reference, "--seconds", "60"],
                                     check=True, capture_output=True, text=True)
                container_id = run.stdout.strip()
                arrived, alert = daemon.first_alert(container_id, 90)
                subprocess.run(podman_argv(state) + ["rm", "--force", "--time", "0", name], capture_output=True)
                if alert is None:
                    print(f"{mode} run {i}: no alert within 90 s", file=sys.stderr)
                    continue
                latency = arrived - unix_seconds(alert["@timestamp"])
                latencies.append(latency)
                named += "name" in alert["container"]
                print(f"{mode} run {i}: {latency * 1000:.0f} ms, container.name "
                      f"{alert['container'].get('name', '(none)')}", file=sys.stderr)
            daemon.stop()
            results[mode] = (latencies, named)
        hanging.close()
        print(f"{'mode':<10} {'runs':>4} {'named':>5} {'median ms':>9} {'p95 ms':>7} {'max ms':>7}")
        for mode, (latencies, named) in results.items():
            if not latencies:
                print(f"{mode:<10} {0:>4}")
                continue
            ordered = sorted(latencies)
            p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
            print(f"{mode:<10} {len(ordered):>4} {named:>5} {statistics.median(ordered) * 1000:>9.0f} "
                  f"{p95 * 1000:>7.0f} {ordered[-1] * 1000:>7.0f}")
    finally:
        if service:
            service.terminate()
            service.wait(30)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
