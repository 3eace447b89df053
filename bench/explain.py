"""The query plans of the built-in billing queries on a benchmark database:
EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL."""

from __future__ import annotations

import time

from bench.implementations import CHECKS, context
from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.sql import compile_query, parameters


def plans(url: str) -> str:
    engine = open_engine(url)
    out: list[str] = []
    try:
        # Under the checks' own session settings (read only, jit off).
        with engine.connect() as conn, database_deadline(conn, time.monotonic() + 600):
            prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
            for name in CHECKS:
                options = CHECK_TYPES[name].options(type=name)
                for label, query in (("count", options.query), ("sample", options.sample_query)):
                    if query is None:
                        continue
                    rows = conn.execute(compile_query(prefix + query), parameters(context()))
                    out.append(f"-- {name} ({label})")
                    out.extend(" | ".join(str(v) for v in row) for row in rows)
            conn.rollback()
    finally:
        engine.dispose()
    return "\n".join(out) + "\n"
