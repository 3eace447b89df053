"""Issue 10's targets, the code before and after side by side in one run
(docs/benchmarks.md section 8). Every measurement runs in a fresh child
process, alternating the two interpreters, so both see the same machine load.

    .venv/bin/python -m bench.limits --before OLD/bin/python --after NEW/bin/python \\
        [--runs 5] [--only startup,cycle,outbox,deliver,scale]

OLD and NEW are interpreters of two virtualenvs with the package installed
NON-editable (an editable install adds its import hook, ~35 ms, to every
start-up): e.g. `pip install /path/to/main` and `pip install .`.

- startup: CPU (user+sys, from wait4) of `NEW -c pass` and of each
  `billing-monitor --version`; the ratio is to `python -c pass`.
- cycle: CPU per trivial `sql` check in a cycle of 500 (bench/limits_child.py).
- outbox: one dispatcher pass and the outbox gauges at 1k / 10k / 100k kept rows.
- deliver: CPU and wall per delivered notification (SQLite WAL).
- check (with `--sqlite-1m PATH`, a database of bench/build.py): CPU of
  `billing-monitor check --at` the dataset's week with the three billing
  checks (state store on, nothing paged), against the sqlite3 shell running
  the same three queries with the period's bounds inlined.
- scale (NEW only): cycles of 500 / 1,000 / 2,000 checks with 100k other
  alert keys, and the outbox at 1M kept rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.plot_svg import Panel, svg

ROOT = Path(__file__).resolve().parents[1]


def cpu_of(argv: Sequence[str], stdin: str | None = None, ok: Sequence[int] = (0,)) -> float:
    """CPU seconds (user + sys) of one child process, from its own rusage."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime


def child(python: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([python, "-m", "bench.limits_child", *args], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def startup(before: str, after: str, runs: int) -> None:
    tools = {"python -c pass": [after, "-c", "pass"],
             "before: billing-monitor --version": [str(Path(before).parent / "billing-monitor"),
                                                   "--version"],
             "after: billing-monitor --version": [str(Path(after).parent / "billing-monitor"),
                                                  "--version"]}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(runs):
        for name, argv in tools.items():
            cpu[name].append(cpu_of(argv))
    base = statistics.median(cpu["python -c pass"])
    print("| command | CPU median (ms) | min (ms) | vs `python -c pass` |")
    print("|---|---:|---:|---:|")
    for name, values in cpu.items():
        med = statistics.median(values)
        print(f"| {name} | {med * 1000:.1f} | {min(values) * 1000:.1f} | {med / base:.1f}x |")


def check_1m(before: str, after: str, db: Path, runs: int) -> None:
    """`check` over the three billing checks at the dataset's week, against
    the sqlite3 shell running the same three queries."""
    from bench.dataset import PERIOD
    from billing_monitor.checks.billing import (
        FailedChargesOptions,
        MissingBillingRecordsOptions,
        UnbilledOrdersOptions,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-check-"))
    config = tmp / "check.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n[state]\nurl = "sqlite:///state.db"\n'
                      '[statsd]\nhost = "127.0.0.1"\nport = 9\n[period]\nkind = "iso_week"\n'
                      '[checks.unbilled_orders]\n[checks.missing_billing_records]\n'
                      '[checks.failed_charges]\n')
    bounds = {":period_start": f"'{PERIOD.start}'", ":period_end": f"'{PERIOD.end}'",
              ":sample_limit": "20"}
    queries = []
    for options in (UnbilledOrdersOptions, MissingBillingRecordsOptions, FailedChargesOptions):
        sql = str(options.model_fields["query"].default)
        for name, value in bounds.items():
            sql = sql.replace(name, value)
        queries.append(sql + ";\n")
    at = f"{PERIOD.start}T12:00Z"
    tools = {"sqlite3 shell, the three queries": ([shutil.which("sqlite3") or "sqlite3", str(db)],
                                                  "".join(queries)),
             "before: check --at": ([str(Path(before).parent / "billing-monitor"), "--config",
                                     str(config), "check", "--at", at], None),
             "after: check --at": ([str(Path(after).parent / "billing-monitor"), "--config",
                                    str(config), "check", "--at", at], None)}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    for _ in range(runs):
        for name, (argv, stdin) in tools.items():
            cpu[name].append(cpu_of(argv, stdin, ok=(0, 1, 2, 3)))
    base = statistics.median(cpu["sqlite3 shell, the three queries"])
    print("| command | CPU median (ms) | min (ms) | vs the sqlite3 shell |")
    print("|---|---:|---:|---:|")
    for name, values in cpu.items():
        med = statistics.median(values)
        print(f"| {name} | {med * 1000:.1f} | {min(values) * 1000:.1f} | {med / base:.1f}x |")


def side_by_side(before: str, after: str, runs: int, args: Sequence[str],
                 keys: Sequence[str]) -> dict[str, tuple[float, float]]:
    got: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(runs):
        got["before"].append(child(before, *args))
        got["after"].append(child(after, *args))
    return {k: (median_of(got["before"], k), median_of(got["after"], k)) for k in keys}


def table(title: str, rows: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title}\n\n| measure | before | after | after / before |\n|---|---:|---:|---:|")
    for key, (old, new) in rows.items():
        print(f"| {key} | {old:.3f} | {new:.3f} | {new / old:.2f} |")


def scale(after: str, plot: Path | None) -> None:
    """Cycles of 500 to 2,000 checks, with and without 100k other alert keys,
    and the outbox from 1k to 1M kept rows (this code only); `plot`: an SVG."""
    print("\nscale (after only)\n\n| checks | other alert keys | CPU ms per check | "
          "alert sink CPU ms per check | RSS MiB |\n|---:|---:|---:|---:|---:|")
    cycles: dict[str, list[tuple[float, float]]] = {}
    for keys in (0, 100_000):
        for checks in (500, 1000, 2000):
            r = child(after, "cycle", str(checks), str(keys))
            cycles.setdefault(f"{keys:,} other alert keys", []).append(
                (checks, float(r["cpu_ms_per_check"])))
            print(f"| {checks:,} | {keys:,} | {r['cpu_ms_per_check']:.3f} | "
                  f"{r['alert_cpu_ms_per_check']:.3f} | {r['rss_mib']:.0f} |")
    print("\n| kept outbox rows | pass CPU ms | pass wall ms | gauges CPU ms |\n"
          "|---:|---:|---:|---:|")
    kept_series: dict[str, list[tuple[float, float]]] = {"dispatcher pass": [], "gauges": []}
    for kept in (1_000, 10_000, 100_000, 1_000_000):
        r = child(after, "outbox", str(kept))
        kept_series["dispatcher pass"].append((kept, float(r["pass_cpu_ms"])))
        kept_series["gauges"].append((kept, float(r["stats_cpu_ms"])))
        print(f"| {kept:,} | {r['pass_cpu_ms']:.3f} | {r['pass_wall_ms']:.3f} | "
              f"{r['stats_cpu_ms']:.3f} |")
    if plot is not None:
        plot.write_text(svg([
            Panel("CPU per check in a cycle", "checks in the cycle", "ms CPU per check", cycles),
            Panel("Outbox pass and gauges", "kept outbox rows (log)", "ms CPU",
                  kept_series, log_x=True)]))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.limits")
    p.add_argument("--before", required=True, help="python of a venv with the old code")
    p.add_argument("--after", default=sys.executable, help="python of a venv with this code")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--only", default="startup,check,cycle,outbox,deliver,scale")
    p.add_argument("--plot", type=Path, help="write the scale curve here (SVG)")
    p.add_argument("--sqlite-1m", type=Path, help="bench/build.py's SQLite database of 1M "
                   "orders (for `check`)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    if "startup" in only:
        print("\nstart-up (`--version`), CPU\n")
        startup(args.before, args.after, max(args.runs, 11))
    if "check" in only and args.sqlite_1m is not None:
        print("\n`check` at 1M orders on SQLite, CPU\n")
        check_1m(args.before, args.after, args.sqlite_1m.resolve(), max(args.runs, 7))
    if "cycle" in only:
        table("a cycle of 500 trivial `sql` checks, per check (ms)", side_by_side(
            args.before, args.after, args.runs, ["cycle", "500"],
            ["cpu_ms_per_check", "alert_cpu_ms_per_check", "wall_ms_per_check", "rss_mib"]))
    if "outbox" in only:
        for kept in (1_000, 10_000, 100_000):
            table(f"outbox with {kept:,} kept rows (ms)", side_by_side(
                args.before, args.after, args.runs, ["outbox", str(kept)],
                ["pass_cpu_ms", "pass_wall_ms", "stats_cpu_ms", "stats_wall_ms"]))
    if "deliver" in only:
        table("per delivered notification and per state-changing result (ms)", side_by_side(
            args.before, args.after, args.runs, ["deliver", "1000"],
            ["cpu_ms_per_notification", "wall_ms_per_notification", "emit_cpu_ms",
             "emit_wall_ms"]))
    if "scale" in only:
        scale(args.after, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
