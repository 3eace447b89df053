"""Peak memory of a SQL check whose query returns millions of rows (issue 9).

    python -m bench.result_memory [--rows 10000000] [--postgres-url URL]
    python -m bench.result_memory --child SHAPE URL ROWS   (one measurement)

Each measurement runs in a fresh process (VmHWM is per process): it opens
the engine with `monitor.app.open_engine`, warms the driver up with one
connection, then runs one `SqlCheck` whose query returns ROWS rows in one
of three shapes, and prints a JSON line with the peak RSS before and after,
the wall time, and what the check returned (its value count, or its error).
PostgreSQL generates the rows itself (generate_series), SQLite with a
recursive CTE, so no data set is built. Without --postgres-url a throwaway
server is started (tests/peers/postgres.py).

Works against any checkout that has `SqlCheck` and `open_engine`: run it with
PYTHONPATH pointing at an older one to measure that code (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SHAPES = {
    # rows with a `value` column and a tag: the cap applies
    "tagged": "SELECT g AS value, g % 7 AS shard FROM {rows}",
    # one column: one number expected
    "one_column": "SELECT g FROM {rows}",
    # a separate sample query returning every row
    "sample_query": "SELECT COUNT(*) FROM {few}|SELECT g FROM {rows}",
}
SOURCES = {
    "postgresql": ("generate_series(1, {n}) AS g", "generate_series(1, 3) AS g"),
    "sqlite": ("(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) "
               "SELECT g FROM s)", "(SELECT 1 AS g UNION ALL SELECT 2)"),
}


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(shape: str, url: str, n: int) -> dict[str, Any]:
    from sqlalchemy import text

    from billing_monitor.checking.billing_db import open_engine
    from billing_monitor.checks.contract import CheckContext
    from billing_monitor.checks.period import current_period
    from billing_monitor.checks.sql import SqlCheck
    from billing_monitor.clock import utc_now

    engine = open_engine(url)
    backend = engine.dialect.name
    rows, few = (s.format(n=n) for s in SOURCES[backend])
    query, _, sample = SHAPES[shape].format(rows=rows, few=few).partition("|")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    before = _peak_mib()
    now = utc_now()
    ctx = CheckContext(current_period("iso_week", "UTC", now), now, time.monotonic() + 600)
    check = SqlCheck(shape, engine, query, sample_query=sample or None)
    started = time.perf_counter()
    try:
        measurements = check.collect(ctx)
        outcome = f"{len(measurements)} values, {len(measurements[0].samples)} samples"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"engine": backend, "shape": shape, "rows": n, "seconds": round(seconds, 3),
            "rss_before_mib": round(before, 1), "peak_rss_mib": round(_peak_mib(), 1),
            "outcome": outcome}


@contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.peers.postgres import postgres_server

    with postgres_server() as server:
        yield server.url()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.result_memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--postgres-url", default=None)
    p.add_argument("--sqlite-dir", type=Path, default=Path("/tmp"))
    p.add_argument("--child", nargs=3, metavar=("SHAPE", "URL", "ROWS"))
    args = p.parse_args(argv)
    if args.child:
        shape, url, n = args.child
        print(json.dumps(child(shape, url, int(n))))
        return 0
    sqlite = args.sqlite_dir / "bench-result-memory.db"
    import sqlite3

    sqlite3.connect(sqlite).close()  # an empty file: the rows are generated
    with _postgres(args.postgres_url) as pg:
        for url in (pg, f"sqlite:///{sqlite}"):
            for shape in SHAPES:
                out = subprocess.run([sys.executable, __file__, "--child",
                                      shape, url, str(args.rows)], capture_output=True,
                                     text=True, check=False)
                print(out.stdout.strip() or out.stderr.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
