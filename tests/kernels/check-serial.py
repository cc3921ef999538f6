#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Host-side assertions of the kernel matrix, read from one VM's serial log.

  check-serial.py check --mode full|probe --kernel 6.1 ... --result OUT.json SERIAL_LOG
  check-serial.py table --mode full|probe [--output FILE] RESULT.json...

`check` prints one summary line
  kernel=<series> layout=<..> attach=<..> result=PASS|FAIL seconds=<..>
(followed by the failed assertions and log excerpts on FAIL), writes the
result as JSON for `table`, and exits 1 on FAIL. `table` prints the markdown
support table, or writes it into FILE between "<!-- table:begin -->" and
"<!-- table:end -->" when FILE has those markers (docs/kernels.md does).

The guest (init.sh) prints each result between "=== MXW BEGIN <name> ===" and
"=== MXW END <name> ===" lines; nothing outside the markers is trusted.
"""

import argparse
import json
import re
import sys

SECTION = re.compile(r"^=== MXW BEGIN (\S+) ===\n(.*?)^=== MXW END \1 ===$", re.M | re.S)


def read_sections(text):
    return {m.group(1): m.group(2) for m in SECTION.finditer(text)}


def key_values(body):
    """'a=1\\nb=x y' -> {'a': '1', 'b': 'x y'}"""
    out = {}
    for line in (body or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def expected_layout(series):
    """`struct fpu` moved the register state behind fpu->fpstate in 5.16."""
    major, minor = (int(x) for x in series.split(".")[:2])
    return "fpstate" if (major, minor) >= (5, 16) else "state"


class Checks:
    def __init__(self):
        self.failed = []

    def expect(self, ok, what):
        if not ok:
            self.failed.append(what)
        return ok


def check_environment(checks, sections, series):
    env = key_values(sections.get("environment"))
    if not checks.expect("environment" in sections, "no environment report from the guest"):
        return env
    uname = env.get("uname", "")
    checks.expect(uname.startswith(series + "."), f"guest runs kernel {uname!r}, not {series}")
    checks.expect(env.get("btf") is not None and env["btf"].startswith("yes"),
                  "/sys/kernel/btf/vmlinux missing in the guest")
    checks.expect(env.get("tracepoint_symbol", "none") != "none",
                  "x86_fpu_regs_deactivated not in /proc/kallsyms")
    return env


def check_mxwatch(checks, sections, series):
    """The scenario's assertions; returns (document or None, facts for the report)."""
    facts = {}
    rc = key_values(sections.get("rc"))
    pids = key_values(sections.get("pids"))
    if not checks.expect("rc" in sections and "pids" in sections,
                         "scenario did not report (no rc/pids section)"):
        return None, facts
    facts["exit"] = rc.get("mxwatch")
    checks.expect(rc.get("mxwatch") == "1",
                  f"mxwatch exit code {rc.get('mxwatch')} (expected 1 = miner found)")
    checks.expect(rc.get("cfround") == "0", f"mxw-cfround exit code {rc.get('cfround')}")
    checks.expect(rc.get("fixed") == "0", f"mxw-fixed-mode exit code {rc.get('fixed')}")

    try:
        doc = json.loads(sections.get("json", ""))
    except json.JSONDecodeError as e:
        checks.expect(False, f"mxwatch printed no valid JSON ({e})")
        return None, facts
    if not checks.expect(isinstance(doc, dict), "mxwatch JSON is not an object"):
        return None, facts

    sampler = doc.get("sampler") or {}
    facts.update(layout=sampler.get("fpu_layout"), attach=sampler.get("attach"),
                 hits=sampler.get("hits"), sent=sampler.get("sent"), lost=sampler.get("lost"))
    want = expected_layout(series)
    checks.expect(sampler.get("fpu_layout") == want,
                  f"sampler.fpu_layout={sampler.get('fpu_layout')!r}, expected {want!r}")
    checks.expect(sampler.get("attach") == "tp_btf",
                  f"sampler.attach={sampler.get('attach')!r}, expected 'tp_btf'")

    processes = {p.get("pid"): p for p in doc.get("processes") or [] if isinstance(p, dict)}
    try:
        cf_pid, fx_pid = int(pids["cfround"]), int(pids["fixed"])
    except (KeyError, ValueError):
        checks.expect(False, f"bad workload pids {pids}")
        return doc, facts
    cf = processes.get(cf_pid)
    fx = processes.get(fx_pid)
    facts["miner_verdict"] = cf.get("verdict") if cf else None
    facts["miner_samples"] = cf.get("samples_by_mode") if cf else None
    facts["fixed_verdict"] = fx.get("verdict") if fx else None
    checks.expect(cf is not None and cf.get("verdict") == "miner",
                  f"mxw-cfround (pid {cf_pid}) verdict {facts['miner_verdict']!r}, expected 'miner'"
                  + ("" if cf else " (not in .processes)"))
    checks.expect(fx is None or fx.get("verdict") != "miner",
                  f"mxw-fixed-mode (pid {fx_pid}) judged a miner")
    return doc, facts


def cmd_check(args):
    with open(args.serial, "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r", "")
    sections = read_sections(text)
    checks = Checks()

    checks.expect(args.qemu_rc == 0, f"qemu exit status {args.qemu_rc} (124 = timed out)")
    checks.expect("=== MXW INIT START ===" in text, "the guest's /init never started")
    checks.expect("=== MXW POWEROFF" in text, "the guest did not reach poweroff")
    env = check_environment(checks, sections, args.kernel)
    facts = {}
    if args.mode == "full":
        _, facts = check_mxwatch(checks, sections, args.kernel)

    result = {
        "kernel": args.kernel,
        "uname": env.get("uname"),
        "package": args.package,
        "version": args.version,
        "source": args.source,
        "btf": env.get("btf", "no").split()[0],
        "tracepoint_symbol": env.get("tracepoint_symbol"),
        "seconds": args.seconds,
        "result": "FAIL" if checks.failed else "PASS",
        "failed": checks.failed,
        **facts,
    }
    with open(args.result, "w") as f:
        json.dump(result, f, indent=2)

    if args.mode == "full":
        print(f"kernel={args.kernel} layout={result.get('layout')} attach={result.get('attach')} "
              f"result={result['result']} seconds={args.seconds}")
    else:
        print(f"kernel={args.kernel} uname={result['uname']} btf={result['btf']} "
              f"tracepoint={result['tracepoint_symbol']} result={result['result']} "
              f"seconds={args.seconds}")
    if checks.failed:
        for what in checks.failed:
            print(f"  FAILED: {what}")
        for name in ("stderr", "dmesg"):
            if sections.get(name):
                print(f"  --- guest {name} (last 25 lines) ---")
                for line in sections[name].splitlines()[-25:]:
                    print(f"  | {line}")
        if not sections:
            print(f"  --- serial log {args.serial} (last 25 lines) ---")
            for line in text.splitlines()[-25:]:
                print(f"  | {line}")
        return 1
    return 0


BEGIN_TABLE, END_TABLE = "<!-- table:begin -->", "<!-- table:end -->"


def write_table(path, table):
    """Write the table to PATH; if PATH already holds the table markers (as
    docs/kernels.md does), replace only what lies between them."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    start, end = text.find(BEGIN_TABLE), text.find(END_TABLE)
    if 0 <= start < end:
        text = text[:start + len(BEGIN_TABLE)] + "\n" + table + text[end:]
    else:
        text = table
    with open(path, "w") as f:
        f.write(text)


def cmd_table(args):
    lines = []
    print_ = lines.append
    rows = []
    for path in args.results:
        try:
            with open(path) as f:
                rows.append(json.load(f))
        except (OSError, ValueError):
            continue
    if args.mode == "full":
        print_("| kernel | uname -r | package | version | from | fpu layout | attach "
               "| miner samples by mode | fixed-mode verdict | result | seconds |")
        print_("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            samples = r.get("miner_samples")
            samples = "/".join(str(n) for n in samples) if isinstance(samples, list) else "-"
            print_(f"| {r['kernel']} | {r.get('uname') or '?'} | `{r['package']}` | {r['version']} "
                   f"| {r['source']} | `{r.get('layout')}` | `{r.get('attach')}` | {samples} "
                   f"| {r.get('fixed_verdict') or 'not listed'} | {r['result']} | {r['seconds']} |")
    else:
        print_("| kernel | uname -r | package | version | from | BTF | tracepoint symbol | result | seconds |")
        print_("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print_(f"| {r['kernel']} | {r.get('uname') or '?'} | `{r['package']}` | {r['version']} "
                   f"| {r['source']} | {r['btf']} | `{r.get('tracepoint_symbol')}` | {r['result']} "
                   f"| {r['seconds']} |")
    table = "\n".join(lines) + "\n"
    if args.output:
        write_table(args.output, table)
    else:
        sys.stdout.write(table)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("--mode", choices=("full", "probe"), default="full")
    check.add_argument("--kernel", required=True, help="series, e.g. 6.1")
    check.add_argument("--package", default="?")
    check.add_argument("--version", default="?")
    check.add_argument("--source", default="?")
    check.add_argument("--seconds", default="?")
    check.add_argument("--qemu-rc", type=int, default=0)
    check.add_argument("--result", required=True)
    check.add_argument("serial")
    table = sub.add_parser("table")
    table.add_argument("--mode", choices=("full", "probe"), default="full")
    table.add_argument("--output", help="file to write; only the part between the "
                       "table markers is replaced if it has them")
    table.add_argument("results", nargs="+")
    args = parser.parse_args()
    return cmd_check(args) if args.command == "check" else cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())
