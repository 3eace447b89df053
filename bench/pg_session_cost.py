"""What the billing sandbox's session per check run costs on PostgreSQL
(issue 10, "monitor vs a bare connection"; docs/benchmarks.md section 8).

    .venv/bin/python -m bench.pg_session_cost [N]

Starts a throwaway server (tests/peers/postgres.py) and times, interleaved,
N runs of a trivial query and of a ~5 ms query three ways: on one psycopg
connection held open (the bare connection), through a NullPool engine (a new
read-only session per run: the product before issue 10's round 2, as
bench/monitor_vs_bare.py builds it), and through a pooled engine that resets
the session at check-in with DISCARD ALL (the experiment that led to
`open_engine`'s reused sessions; the product's own path, with its deadline,
is measured by bench/monitor_vs_bare.py). Prints medians of wall and CPU
time per run.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event, text

from bench.monitor_vs_bare import new_session_engine
from billing_monitor.checking.billing_db import session_options
from tests.peers.postgres import postgres_server

QUERIES = {"trivial": "SELECT 1", "5 ms": "SELECT count(*) FROM generate_series(1, 60000)"}


def discard_all_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=1, connect_args={
        "options": session_options(30), "prepare_threshold": 0})

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn: Any, record: Any, state: Any) -> None:
        dbapi_conn.rollback()
        dbapi_conn.autocommit = True
        dbapi_conn.execute("DISCARD ALL")
        dbapi_conn.autocommit = False

    return engine


def main(n: int) -> None:
    with postgres_server() as server:
        url = server.url()
        sandbox = new_session_engine(url)
        pooled = discard_all_engine(url)
        bare = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                               options=session_options(30), prepare_threshold=0)
        print("| query | how | wall ms | CPU ms | wall vs bare |\n|---|---|---:|---:|---:|")
        for name, sql in QUERIES.items():
            def on_bare(sql: str = sql) -> None:
                with bare.cursor() as cur:
                    cur.execute(sql)
                    cur.fetchall()
                bare.rollback()

            def on(engine: Engine, sql: str = sql) -> Callable[[], None]:
                def run() -> None:
                    with engine.connect() as conn:
                        conn.execute(text(sql)).all()
                return run

            ways = {"bare connection": on_bare, "sandbox (NullPool, before)": on(sandbox),
                    "pooled + DISCARD ALL (experiment)": on(pooled)}
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
            for way in ways.values():
                way()  # warm: dialect set-up, first connection
            for _ in range(n):
                for label, way in ways.items():
                    cpu, wall = time.process_time(), time.perf_counter()
                    way()
                    times[label].append(((time.process_time() - cpu) * 1000,
                                         (time.perf_counter() - wall) * 1000))
            base = statistics.median(w for _, w in times["bare connection"])
            for label, got in times.items():
                wall_ms = statistics.median(w for _, w in got)
                cpu_ms = statistics.median(c for c, _ in got)
                print(f"| {name} | {label} | {wall_ms:.2f} | {cpu_ms:.2f} | "
                      f"{wall_ms / base:.2f}x |")
        bare.close()
        sandbox.dispose()
        pooled.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
