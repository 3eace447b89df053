"""Make the database itself give up at the check's deadline.

A Python thread cannot be killed, so a timeout that only stops waiting would
leave the query running. PostgreSQL gets `statement_timeout` for the
transaction; SQLite gets a progress handler that interrupts the statement.

PostgreSQL also gets `jit = off`: a monitoring query is short, and a JIT
compile (on by default in PostgreSQL 11+, triggered by the estimated cost, not
the run time) costs more than it saves: 4 ms of 90 ms for missing_billing_records
at 1M orders, and inlining and optimization on top once the estimate passes
jit_optimize_above_cost (docs/benchmarks.md). All three settings go in one
round trip; set_config(..., true) is SET LOCAL, undone by the rollback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

_PG_SETTINGS = text(
    "SELECT set_config('transaction_read_only', 'on', true),"
    " set_config('statement_timeout', :timeout, true),"
    " set_config('jit', 'off', true)"
)


@contextmanager
def database_deadline(conn: Connection, deadline: float) -> Iterator[None]:
    remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # SET LOCAL lasts until the transaction ends; we always roll back.
        conn.execute(_PG_SETTINGS, {"timeout": str(remaining_ms)})
        yield
        return
    if dialect == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is None:  # pragma: no cover - SQLAlchemy always provides one here
            yield
            return

        def interrupt() -> int:
            return 1 if time.monotonic() > deadline else 0

        raw.set_progress_handler(interrupt, 10_000)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)
        return
    yield
