#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""mxwatch's performance benchmark (issue #7), run by bench/perf/run.sh.

Every comparison is measured in this run, variants alternating and repeated,
medians reported; nothing is hard-coded but the goals. docs/performance.md
explains the method and keeps the latest figures.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BPFTRACE_SCRIPT = os.path.join(HERE, "mxcsr.bt")
MIB = 1024 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def find_perf():
    """Debian's /usr/bin/perf may be a wrapper refusing a kernel it was not built for."""
    candidates = [shutil.which("perf")] + sorted(glob.glob("/usr/bin/perf_*"), reverse=True)
    for cand in filter(None, candidates):
        try:
            subprocess.run([cand, "bench", "sched", "pipe", "-l", "10"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            return cand
        except (subprocess.SubprocessError, OSError):
            continue
    sys.exit("run.sh: no working perf binary (install linux-perf); `perf bench sched pipe` is the load")


class Attached:
    """A process holding BPF programs on the hook; its program ids from /proc/PID/fdinfo."""

    def __init__(self, label, argv, ready_text=None, stdout_ready=False):
        self.label = label
        self.err = tempfile.TemporaryFile()
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err, start_new_session=True)
        self.prog_ids = self._wait_ready(ready_text, stdout_ready)

    def _read(self, f):
        f.seek(0)
        return f.read().decode(errors="replace")

    def _wait_ready(self, ready_text, stdout_ready):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited: {self._read(self.err)[-800:]}")
            text = self._read(self.out if stdout_ready else self.err)
            ids = prog_ids_of(self.proc.pid)
            if ids and (ready_text is None or ready_text in text):
                time.sleep(0.3)
                return ids
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not attach within 60 s")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def bpf_ids_of(pid, kind):
    """Ids of the BPF objects (kind "prog" or "map") that process PID holds open."""
    ids = set()
    for fdinfo in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            with open(fdinfo) as f:
                m = re.search(rf"^{kind}_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return sorted(ids)


def prog_ids_of(pid):
    return bpf_ids_of(pid, "prog")


def map_ids_of(pid):
    return bpf_ids_of(pid, "map")


def prog_stats(prog_id):
    out = subprocess.run(["bpftool", "prog", "show", "id", str(prog_id), "-j"], check=True,
                         capture_output=True, text=True).stdout
    info = json.loads(out)
    return info.get("run_time_ns", 0), info.get("run_cnt", 0)


def mxwatch_sent_records(pid):
    """Sum of the per-CPU MXW_CTR_SENT counter of the daemon's `counters` map."""
    for map_id in map_ids_of(pid):
        info = json.loads(subprocess.run(["bpftool", "map", "show", "id", str(map_id), "-j"],
                                         capture_output=True, text=True).stdout or "{}")
        if info.get("name") != "counters":
            continue
        dump = json.loads(subprocess.run(["bpftool", "map", "dump", "id", str(map_id), "-j"],
                                         capture_output=True, text=True).stdout)
        for entry in dump:
            key = entry.get("key")
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little") if isinstance(key, list) else key
            if key == 1:
                return sum(int(v["value"]) if not isinstance(v["value"], list)
                           else int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
                           for v in entry["values"])
    return None


def cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: exact, not tick-sampled)."""
    total = 0
    for stat in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(stat) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s*(\d+) kB", f.read(), re.M)
    return int(m.group(1)) * 1024 if m else 0


class ReplayFile:
    def __init__(self):
        self.records = self.samples = self.summaries = self.recorded = self.copies = self.other = 0


def record_samples(record):
    """How many samples one sample line stands for: a kernel summary its counted
    samples, a single record itself and the default-mode samples folded into it."""
    summary = record.get("summary")
    if summary is not None:
        return sum(summary["modes"])
    return 1 + record["skipped"]


def make_replay_file(rec, big, target_records):
    """Re-timed copies of the recording RECORDING until it holds TARGET_RECORDS
    sample lines: copy k runs after copy k-1, the same processes going on, like a
    long recording. Process lines are written once (the processes are the same),
    footprint lines re-timed with the samples."""
    with open(rec) as f:
        header = f.readline()
        lines = [json.loads(line) for line in f if line.strip()]
    samples = [x for x in lines if "t" in x]
    if not samples:
        raise RuntimeError(f"the recording {rec} has no samples")
    out = ReplayFile()
    out.recorded = len(samples)
    span = samples[-1]["t"] - samples[0]["t"] + 1_000_000_000
    with open(big, "w") as w:
        w.write(header)
        while out.records < target_records:
            shift = out.copies * span
            for x in lines:
                c = dict(x)
                if "t" in c:
                    c["t"] += shift
                    if "summary" in c:
                        c["summary"] = dict(c["summary"], first=c["summary"]["first"] + shift)
                        out.summaries += 1
                    out.records += 1
                    out.samples += record_samples(c)
                elif "footprint" in c:
                    c["footprint"] = dict(c["footprint"], t=c["footprint"]["t"] + shift)
                    out.other += 1
                elif out.copies == 0:
                    out.other += 1
                else:
                    continue
                w.write(json.dumps(c, separators=(",", ":")) + "\n")
            out.copies += 1
    return out


def parse_replay_line(stderr):
    """(records, samples, seconds) from replay's "replayed N records (M samples) ... in S s"
    (or an older mxwatch's "replayed N samples ... in S s", which counted records)."""
    m = re.search(r"replayed (\d+) records \((\d+) samples\) .* in ([\d.]+) s", stderr)
    if m:
        return int(m.group(1)), int(m.group(2)), float(m.group(3))
    m = re.search(r"replayed (\d+) samples .* in ([\d.]+) s", stderr)
    if not m:
        raise RuntimeError(f"replay failed: {stderr[-500:]}")
    return int(m.group(1)), None, float(m.group(2))


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.mxwatch = os.path.join(self.build, "mxwatch")
        self.attach_helper = os.path.join(self.build, "bench", "mxw-bpf-attach")
        self.empty_obj = os.path.join(self.build, "bench", "mxw_bench_empty.bpf.o")
        self.load = os.path.join(self.build, "bench", "mxw-perf-load")
        self.randomx = os.path.join(self.build, "tests", "workloads", "mxw-randomx")
        self.detector_replay = os.path.join(self.build, "bench", "mxw-detector-replay")
        for path in (self.mxwatch, self.attach_helper, self.empty_obj, self.load, self.randomx,
                     self.detector_replay):
            if not os.path.exists(path) and not args.only:
                sys.exit(f"run.sh: {path} is missing: build first (cmake --build {args.build})")
        self.perf = find_perf()
        self.work = tempfile.mkdtemp(prefix="mxw-perf-", dir=self.build)
        self.rows = []  # (measure, value, goal, verdict)
        self.info = []  # extra lines printed under the table

    # --- helpers ---------------------------------------------------------
    def pipe_load(self, loops):
        """perf bench sched pipe, both ends on one CPU (every op is two context
        switches there, and cross-CPU wake-up noise stays out): returns ops/s."""
        cpu = str(os.cpu_count() - 1)
        out = subprocess.run(["taskset", "-c", cpu, self.perf, "bench", "sched", "pipe", "-l", str(loops)],
                             check=True,
                             capture_output=True, text=True).stdout
        m = re.search(r"([\d.]+)\s+ops/sec", out)
        return float(m.group(1))

    def daemon(self, extra=()):
        return Attached("mxwatch run", [self.mxwatch, *extra, "run"], ready_text="attached")

    def variants(self):
        v = [
            ("empty tp_btf", lambda: Attached("empty", [self.attach_helper, self.empty_obj, "empty_tp_btf"],
                                              "attached", stdout_ready=True)),
            ("empty tracepoint", lambda: Attached("empty", [self.attach_helper, self.empty_obj,
                                                            "empty_tracepoint"], "attached", stdout_ready=True)),
            ("read MXCSR only", lambda: Attached("read", [self.attach_helper, self.empty_obj,
                                                          "read_mxcsr_tp_btf"], "attached", stdout_ready=True)),
            ("bpftrace script", lambda: Attached("bpftrace", ["bpftrace", BPFTRACE_SCRIPT], "Attaching",
                                                 stdout_ready=True)),
            ("mxwatch", self.daemon),
        ]
        for spec in self.args.bpf_object:
            label, rest = spec.split("=", 1)
            path, prog = rest.rsplit(":", 1)
            v.append((label, lambda l=label, p=path, g=prog: Attached(l, [self.attach_helper, p, g], "attached",
                                                                      stdout_ready=True)))
        return v

    def row(self, measure, value, goal="", ok=None):
        verdict = "" if ok is None else ("PASS" if ok else "GAP")
        self.rows.append((measure, value, goal, verdict))

    # --- 1. BPF cost per hit ----------------------------------------------
    def bpf_cost(self):
        rounds, loops = self.args.rounds, self.args.pipe_loops
        variants = self.variants()
        per_hit = {label: [] for label, _ in variants}
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
        try:
            for r in range(rounds):
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for label, start in order:
                    att = start()
                    try:
                        before = [prog_stats(i) for i in att.prog_ids]
                        self.pipe_load(loops)
                        after = [prog_stats(i) for i in att.prog_ids]
                    finally:
                        att.stop()
                    ns = sum(a[0] - b[0] for a, b in zip(after, before))
                    cnt = sum(a[1] - b[1] for a, b in zip(after, before))
                    per_hit[label].append(ns / cnt if cnt else float("nan"))
                    log(f"  bpf cost round {r + 1}/{rounds}: {label}: {per_hit[label][-1]:.1f} ns/hit ({cnt} hits)")
        finally:
            subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={self.stats_before}"])
        med = {label: median(v) for label, v in per_hit.items()}
        floor_btf, floor_tp = med["empty tp_btf"], med["empty tracepoint"]
        bt_add = med["bpftrace script"] - floor_tp
        mxw_add = med["mxwatch"] - floor_btf
        for label, v in med.items():
            self.info.append(f"BPF ns/hit, median of {rounds}: {label:<18} {v:7.1f}  "
                             f"(runs: {', '.join(f'{x:.1f}' for x in per_hit[label])})")
        self.row("BPF ns/hit: empty program (floor), tp_btf / tracepoint", f"{floor_btf:.1f} / {floor_tp:.1f}")
        self.row("BPF ns/hit: bpftrace script (tracepoint)", f"{med['bpftrace script']:.1f} (+{bt_add:.1f})")
        self.row("BPF ns/hit: mxwatch (tp_btf)", f"{med['mxwatch']:.1f} (+{mxw_add:.1f})")
        for label in med:
            if label not in ("empty tp_btf", "empty tracepoint", "bpftrace script", "mxwatch"):
                # "read MXCSR only": the least any MXCSR sampler can cost
                self.row(f"BPF ns/hit: {label}", f"{med[label]:.1f} (+{med[label] - floor_btf:.1f})")
        ratio = mxw_add / bt_add if bt_add > 0 else float("nan")
        self.row("mxwatch above floor / bpftrace above floor", f"{ratio:.2f}x", "<= 0.25x", ratio <= 0.25)
        total = med["mxwatch"] / floor_btf
        self.row("mxwatch total / floor", f"{total:.2f}x", "<= 1.3x", total <= 1.3)
        # Issue #16: at most 10% above the least any MXCSR sampler can cost.
        read_only = med["read MXCSR only"]
        vs_read = med["mxwatch"] / read_only if read_only > 0 else float("nan")
        self.row("mxwatch / read MXCSR only (ns/hit)", f"{vs_read:.2f}x", "<= 1.10x", vs_read <= 1.10)

    # --- 2. throughput of the context-switch load -------------------------
    def throughput(self):
        rounds, loops = self.args.rounds, self.args.pipe_loops
        ratios, bt_ratios, base = [], [], []
        # bpf_stats adds two clock reads per program run: off, as on a production host.
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=True)
        try:
            self._throughput_rounds(rounds, loops, ratios, bt_ratios, base)
        finally:
            subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={self.stats_before}"])
        slow = 1 - median([r["mxwatch"] for r in ratios])
        empty_slow = 1 - median([r["empty tp_btf"] for r in ratios])
        self.info.append(f"sched pipe ops/s without BPF, median: {median(base):.0f}; mxwatch/none per round: "
                         + ", ".join(f"{r['mxwatch']:.3f}" for r in ratios)
                         + "; empty tp_btf/none: " + ", ".join(f"{r['empty tp_btf']:.3f}" for r in ratios))
        self.row("sched pipe slowdown, bpftrace attached", f"{100 * (1 - median(bt_ratios)):.1f}%")
        self.row("sched pipe slowdown, empty program (tp_btf) attached", f"{100 * empty_slow:.1f}%")
        self.row("sched pipe slowdown, mxwatch attached", f"{100 * slow:.1f}%", "<= 3%", slow <= 0.03)
        # Issue #16: within one percentage point of the empty program on the same hook.
        extra = median([r["empty tp_btf"] - r["mxwatch"] for r in ratios])
        self.row("sched pipe: mxwatch slower than the empty program by", f"{100 * extra:.1f} pp", "<= 1 pp",
                 extra <= 0.01)

    def _throughput_rounds(self, rounds, loops, ratios, bt_ratios, base):
        for r in range(rounds):
            results = {}
            order = ["none", "empty tp_btf", "mxwatch", "bpftrace"]
            if r % 2:
                order.reverse()
            for variant in order:
                att = None
                if variant == "mxwatch":
                    att = self.daemon()
                elif variant == "empty tp_btf":
                    att = Attached("empty", [self.attach_helper, self.empty_obj, "empty_tp_btf"], "attached",
                                   stdout_ready=True)
                elif variant == "bpftrace":
                    att = Attached("bpftrace", ["bpftrace", BPFTRACE_SCRIPT], "Attaching", stdout_ready=True)
                try:
                    results[variant] = self.pipe_load(loops)
                finally:
                    if att:
                        att.stop()
            ratios.append({v: results[v] / results["none"] for v in ("mxwatch", "empty tp_btf")})
            bt_ratios.append(results["bpftrace"] / results["none"])
            base.append(results["none"])
            log(f"  throughput round {r + 1}/{rounds}: none {results['none']:.0f} ops/s, "
                f"empty {ratios[-1]['empty tp_btf']:.3f}x, mxwatch {ratios[-1]['mxwatch']:.3f}x, "
                f"bpftrace {bt_ratios[-1]:.3f}x")

    # --- 3. daemon CPU per million records --------------------------------
    def cpu_per_record(self):
        values = []
        for r in range(min(self.args.rounds, 3)):
            att = self.daemon()
            try:
                pid = att.proc.pid
                sent0, cpu0 = mxwatch_sent_records(pid), cpu_ns(pid)
                subprocess.run([self.load, "pingpong", str(self.args.records // 2)], check=True)
                time.sleep(0.5)  # the last poll period
                sent1, cpu1 = mxwatch_sent_records(pid), cpu_ns(pid)
            finally:
                att.stop()
            if sent0 is None or sent1 is None or sent1 == sent0:
                raise RuntimeError("could not read the daemon's record counter")
            values.append((cpu1 - cpu0) / 1e9 / ((sent1 - sent0) / 1e6))
            log(f"  cpu/record round {r + 1}: {sent1 - sent0} records, {values[-1]:.2f} CPU s per million")
        self.row("daemon CPU per million records (CPU s)", f"{median(values):.2f}")

    # --- 4. daemon CPU and RSS with two RandomX threads -------------------
    def cpu_with_miners(self):
        pct, rss = [], []
        window = self.args.miner_seconds
        for r in range(min(self.args.rounds, 3)):
            att = self.daemon()
            miner = None
            try:
                pid = att.proc.pid
                miner = subprocess.Popen([self.randomx, "--threads", "2", "--seconds", str(window + 6)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(4)  # cache initialisation, first alert
                cpu0, t0 = cpu_ns(pid), time.monotonic()
                time.sleep(window)
                cpu1, t1 = cpu_ns(pid), time.monotonic()
                pct.append(100 * (cpu1 - cpu0) / 1e9 / (t1 - t0))
                rss.append(rss_bytes(pid))
                alerted = "miner:" in att._read(att.err)
            finally:
                if miner:
                    miner.kill()
                    miner.wait()
                att.stop()
            log(f"  miners round {r + 1}: daemon {pct[-1]:.2f}% of a core, RSS {rss[-1] / MIB:.1f} MiB, "
                f"alerted={alerted}")
            if not alerted:
                self.info.append(f"WARNING: round {r + 1} with two RandomX threads raised no alert")
        self.row("daemon CPU, 2 RandomX threads (% of one core)", f"{median(pct):.2f}%", "<= 1%",
                 median(pct) <= 1.0)
        self.row("daemon RSS, steady (2 RandomX threads)", f"{median(rss) / MIB:.1f} MiB", "<= 32 MiB",
                 median(rss) <= 32 * MIB)

    # --- 5. RSS under process churn ---------------------------------------
    def rss_churn(self):
        att = self.daemon()
        try:
            pid = att.proc.pid
            before = rss_bytes(pid)
            sent0 = mxwatch_sent_records(pid)
            t0 = time.monotonic()
            # Resident memory sampled every 100 ms throughout: the goal holds at every moment.
            load = subprocess.Popen([self.load, "spawn", str(self.args.churn)])
            peak = before
            while load.poll() is None:
                peak = max(peak, rss_bytes(pid))
                time.sleep(0.1)
            if load.returncode != 0:
                raise RuntimeError(f"mxw-perf-load spawn failed ({load.returncode})")
            spawn_s = time.monotonic() - t0
            for _ in range(10):
                peak = max(peak, rss_bytes(pid))
                time.sleep(0.1)
            after = rss_bytes(pid)
            sent1 = mxwatch_sent_records(pid)
            time.sleep(self.args.settle)
            settled = rss_bytes(pid)
        finally:
            att.stop()
        self.info.append(f"churn: {self.args.churn} processes in {spawn_s:.1f} s, {sent1 - sent0} records; "
                         f"RSS before {before / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB (sampled every 100 ms), "
                         f"1 s after {after / MIB:.1f} MiB, {self.args.settle} s later {settled / MIB:.1f} MiB")
        self.row(f"daemon RSS, peak during {self.args.churn} short-lived processes", f"{peak / MIB:.1f} MiB",
                 "<= 48 MiB", peak <= 48 * MIB)
        self.row(f"daemon RSS {self.args.settle} s after the churn", f"{settled / MIB:.1f} MiB", "<= 32 MiB",
                 settled <= 32 * MIB)

    # --- 6. replay throughput ---------------------------------------------
    def record_for_replay(self):
        """A real recording (the daemon's defaults: kernel summaries, process lines)."""
        rec = os.path.join(self.work, "recorded.jsonl")
        recorder = Attached("mxwatch record", [self.mxwatch, "record", "-o", rec, "--duration",
                                               str(self.args.record_seconds)], ready_text="attached")
        miner = subprocess.Popen([self.randomx, "--threads", "2", "--seconds", str(self.args.record_seconds)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([self.load, "pingpong", "20000"], check=True)
        miner.wait()
        recorder.proc.wait()
        return rec

    def replay(self):
        rec = self.args.replay_file or self.record_for_replay()
        big = os.path.join(self.work, "replay.jsonl")
        f = make_replay_file(rec, big, self.args.replay_samples)
        binaries = [("mxwatch", self.mxwatch)] + [tuple(spec.split("=", 1)) for spec in self.args.replay_against]
        records_s = {label: [] for label, _ in binaries}
        samples_s = {label: [] for label, _ in binaries}
        for r in range(self.args.rounds):
            order = binaries if r % 2 == 0 else binaries[::-1]
            for label, binary in order:
                res = subprocess.run([binary, "replay", big], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
                records, samples, seconds = parse_replay_line(res.stderr)
                if records != f.records or samples not in (None, f.samples):
                    raise RuntimeError(f"{label} replayed {records} records ({samples} samples) of {f.records} "
                                       f"({f.samples}): {res.stderr[-300:]}")
                records_s[label].append(records / seconds)
                samples_s[label].append(f.samples / seconds)
                log(f"  replay round {r + 1}/{self.args.rounds}: {label}: {records} records ({f.samples} samples) "
                    f"in {seconds:.3f} s: {records / seconds / 1e6:.2f} M records/s")
        res = subprocess.run([self.detector_replay, big, str(self.args.rounds)], check=True, capture_output=True,
                             text=True)
        d_records, d_alerts, d_seconds, d_read_seconds = res.stdout.split()
        d_rate = int(d_records) / float(d_seconds)
        read_rate = int(d_records) / float(d_read_seconds)
        self.info.append(f"replay file: {f.records} records standing for {f.samples} samples "
                         f"({f.summaries} kernel summaries, {f.records - f.summaries} single records; "
                         f"{f.recorded} records recorded, copied {f.copies}x; {f.other} process and footprint "
                         f"lines), {os.path.getsize(big) / MIB:.0f} MiB")
        for label, _ in binaries:
            self.info.append(f"replay records/s, median of {self.args.rounds}: {label}: "
                             f"{median(records_s[label]) / 1e6:.2f} M/s (runs: "
                             + ", ".join(f"{x / 1e6:.2f}" for x in records_s[label]) + ")")
        self.row("detector replay (records/s, records in memory)", f"{d_rate / 1e6:.2f} M/s", ">= 5 M/s",
                 d_rate >= 5e6)
        # replay's reader thread does this beside the detector: the slower of the two bounds it.
        self.row("reading and parsing alone (records/s, SampleReader, one pass)", f"{read_rate / 1e6:.2f} M/s")
        # The goal is on records (lines): a kernel summary stands for many samples, so
        # samples/s grows with the summaries' size, not with replay's speed.
        rate = median(records_s["mxwatch"])
        self.row("`mxwatch replay` (records/s, parsing included)", f"{rate / 1e6:.2f} M/s", ">= 5 M/s",
                 rate >= 5e6)
        self.row("`mxwatch replay` (samples/s: what the records stand for)",
                 f"{median(samples_s['mxwatch']) / 1e6:.1f} M/s")
        for label, _ in binaries[1:]:
            self.row(f"`replay` records/s: {label}", f"{median(records_s[label]) / 1e6:.2f} M/s")

    def run(self):
        self.stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
        started = time.time()
        load_start = os.getloadavg()[0]
        steps = [("BPF cost per hit", self.bpf_cost), ("context-switch throughput", self.throughput),
                 ("daemon CPU per record", self.cpu_per_record), ("daemon with two miners", self.cpu_with_miners),
                 ("RSS under churn", self.rss_churn), ("replay", self.replay)]
        for name, step in steps:
            if self.args.only and name.split()[0].lower() not in self.args.only:
                continue
            log(f"== {name}")
            try:
                step()
            except Exception as e:  # a failed step is reported, the others still run
                self.row(f"{name}: FAILED", str(e)[:60], "", False)
        shutil.rmtree(self.work, ignore_errors=True)
        self.print_table(time.time() - started, load_start)

    def print_table(self, seconds, load_start):
        cpu = "?"
        try:
            cpu = re.search(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M).group(1)
        except (OSError, AttributeError):
            pass
        w = max(len(r[0]) for r in self.rows) + 2
        print()
        print(f"{'measure':<{w}} {'value':>20}  {'goal':<10} verdict")
        print("-" * (w + 42))
        for measure, value, goal, verdict in self.rows:
            print(f"{measure:<{w}} {value:>20}  {goal:<10} {verdict}")
        print()
        for line in self.info:
            print(line)
        rev = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip()
        print(f"({self.args.rounds} rounds, alternating; {os.cpu_count()} CPUs, {cpu}, kernel "
              f"{os.uname().release}; mxwatch {rev}; load average {load_start:.1f} at start, "
              f"{os.getloadavg()[0]:.1f} at end; {seconds:.0f} s)")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("build", nargs="?", default="build")
    p.add_argument("--quick", action="store_true", help="fewer rounds and smaller loads (about 5 min)")
    p.add_argument("--rounds", type=int)
    p.add_argument("--pipe-loops", type=int,
                   help="ops per `perf bench sched pipe` run (default 200000; more averages out a noisy host)")
    p.add_argument("--only", action="append", default=[],
                   help="run only steps starting with this word: bpf, context-switch, daemon, rss, replay")
    p.add_argument("--replay-file", metavar="RECORDING",
                   help="replay step: enlarge this recording instead of recording one (needs no BPF)")
    p.add_argument("--replay-against", action="append", default=[], metavar="LABEL=MXWATCH",
                   help="replay step: also time this mxwatch binary, rounds alternating (e.g. a build of main)")
    p.add_argument("--bpf-object", action="append", default=[], metavar="LABEL=OBJECT:PROGRAM",
                   help="also measure this BPF program's cost per hit (e.g. another build of mxwatch)")
    args = p.parse_args()
    q = args.quick
    args.rounds = args.rounds or (3 if q else 5)
    args.pipe_loops = args.pipe_loops or (100_000 if q else 200_000)
    args.records = 200_000 if q else 1_000_000
    args.miner_seconds = 8 if q else 15
    args.churn = 10_000 if q else 100_000
    args.settle = 5 if q else 15
    args.record_seconds = 5 if q else 8
    args.replay_samples = 500_000 if q else 2_000_000
    args.only = [o.lower() for o in args.only]
    if os.geteuid() != 0:
        sys.exit("run.sh: needs root (BPF, bpf_stats_enabled)")
    for tool in ("bpftool", "bpftrace"):
        if not shutil.which(tool):
            sys.exit(f"run.sh: {tool} is missing (scripts/install-deps.sh installs it)")
    mounted = False
    if not os.path.exists("/sys/kernel/tracing/events"):
        # bpftrace's classic tracepoint needs tracefs
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
        mounted = True
    try:
        Bench(args).run()
    finally:
        if mounted:
            subprocess.run(["umount", "/sys/kernel/tracing"])


if __name__ == "__main__":
    main()
