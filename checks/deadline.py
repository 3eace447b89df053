"""Make the database itself give up at the check's deadline.

A Python thread cannot be killed, so a timeout that only stops waiting would
leave the query running. PostgreSQL gets `statement_timeout` for the
transaction; SQLite gets a progress handler that interrupts the statement.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text


@contextmanager
def database_deadline(conn: Connection, deadline: float) -> Iterator[None]:
    remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # SET LOCAL lasts until the transaction ends; we always roll back.
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text(f"SET LOCAL statement_timeout = {remaining_ms}"))
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
