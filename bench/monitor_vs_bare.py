"""The monitor against the same SQL on a bare connection, on PostgreSQL
(issue 10; docs/benchmarks.md section 8).

    .venv/bin/python -m bench.monitor_vs_bare [ORDERS] [ROUNDS]

Starts a throwaway server (tests/peers/postgres.py), builds the benchmark
data set (bench/build.py; ORDERS default 1,000,000) and runs, interleaved in
each round (so that load on the shared machine falls on all three alike):

- bare: one psycopg connection held open, with the sandbox's session options,
  sending the very statements the three billing checks send (the same text,
  the same parameters), one transaction each, rolled back;
- monitor, sessions reused (the product): the three checks built once over
  one `open_engine` for the process's life, as the daemon holds them;
- monitor, a new session per run (before: NullPool, issue 9's first design).

The order of the three rotates from round to round.

Prints medians of ROUNDS (default 60) of wall and CPU time per round of
three checks, and each against bare.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from bench.build import build_postgres
from bench.implementations import CHECKS, _Services, context
from billing_monitor.checking.billing_db import _Running, open_engine, session_options
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.sql import _BIND, SqlCheck, parameters
from billing_monitor.checks.sql_results import MAX_ROWS
from billing_monitor.checks.sqlguard import bounded
from tests.peers.postgres import postgres_server


def new_session_engine(url: str) -> Engine:
    """open_engine as it was before sessions were reused: NullPool."""
    engine = create_engine(url, poolclass=NullPool, connect_args={
        "connect_timeout": 10, "application_name": "billing-monitor",
        "options": session_options(30), "prepare_threshold": 0})
    running = _Running()
    event.listen(engine, "checkout", running.checkout)
    event.listen(engine, "checkin", running.checkin)
    return engine


def build_checks(engine: Engine) -> list[SqlCheck]:
    services = _Services(engine)
    out = []
    for name in CHECKS:
        t = CHECK_TYPES[name]
        check = t.build(name, t.options(type=name), services)
        assert isinstance(check, SqlCheck)
        out.append(check)
    return out


def bare_statements() -> list[str]:
    """The statements the checks send, in psycopg's placeholder style."""
    out = []
    for name in CHECKS:
        query = CHECK_TYPES[name].options(type=name).query
        out.append(_BIND.sub(r"%(\1)s", bounded(query, MAX_ROWS + 1)))
    return out


def main(n: int, rounds: int) -> None:
    with postgres_server() as server:
        started = time.perf_counter()
        url = build_postgres(server.url(), n)
        print(f"built {n:,} orders in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        params: dict[str, Any] = parameters(context())
        bare = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                               options=session_options(30), prepare_threshold=0,
                               application_name="bench-bare")
        statements = bare_statements()

        def on_bare() -> None:
            for sql in statements:
                with bare.cursor() as cur:
                    cur.execute(sql, params)
                    cur.fetchall()
                bare.rollback()

        def on(checks: list[SqlCheck]) -> Callable[[], None]:
            def run() -> None:
                for check in checks:
                    check.collect(context())
            return run

        reused, fresh = open_engine(url, timeout_s=30), new_session_engine(url)
        ways = {"bare connection": on_bare,
                "monitor, sessions reused (after)": on(build_checks(reused)),
                "monitor, new session per run (before)": on(build_checks(fresh))}
        for way in ways.values():
            way()  # warm: dialect set-up, caches, the first session
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
        labels = list(ways)
        for i in range(rounds):
            # Each way goes first, second and third in turn: a new session's
            # backend start-up (the "before" way) must not load the next one.
            for label in labels[i % 3:] + labels[:i % 3]:
                way = ways[label]
                cpu, wall = time.process_time(), time.perf_counter()
                way()
                times[label].append(((time.process_time() - cpu) * 1000,
                                     (time.perf_counter() - wall) * 1000))
        base_wall = statistics.median(w for _, w in times["bare connection"])
        base_cpu = statistics.median(c for c, _ in times["bare connection"])
        print(f"{n:,} orders, {rounds} rounds of the three checks, medians per round")
        print("| how | wall ms | CPU ms | wall vs bare | CPU vs bare |\n|---|---:|---:|---:|---:|")
        for label, got in times.items():
            wall_ms = statistics.median(w for _, w in got)
            cpu_ms = statistics.median(c for c, _ in got)
            print(f"| {label} | {wall_ms:.2f} | {cpu_ms:.2f} | {wall_ms / base_wall:.2f}x | "
                  f"{cpu_ms / base_cpu:.2f}x |")
        bare.close()
        reused.dispose()
        fresh.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 60)
