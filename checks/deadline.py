"""Make the database itself give up at the check's deadline.

A Python thread cannot be killed, so a timeout that only stops waiting would
leave the query running. Two things stop it on PostgreSQL, each on its own:

- `statement_timeout` for the transaction (SET LOCAL, undone by the rollback;
  the session also starts with one, monitor/checking/billing_db.py), so the server
  gives up by itself;
- a watch (checks/deadline_watch.py, one thread for all checks) that sends
  a cancel request (psycopg `cancel_safe`, the protocol's CancelRequest on
  its own connection) at the deadline: it also stops a
  statement started late in the check, whose own statement_timeout would run
  past the deadline, and does not depend on anything the query could change.

A connection whose check failed, or whose cancel was sent, is closed rather
than handed back for reuse (monitor/checking/session_reuse.py): a cancel
request may land after the statement it was meant for.

SQLite gets a progress handler that interrupts the statement in-process.
The transaction is also marked read-only (the session already is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from billing_monitor.checks.deadline_watch import watch

# Sent unnamed (Parse, Bind and Execute in one round trip, still the extended
# protocol): a prepared statement would cost a second round trip per run.
_PG_SETTINGS = (
    "SELECT set_config('transaction_read_only', 'on', true),"
    " set_config('statement_timeout', %s, true)"
)
CANCEL_TIMEOUT_S = 5.0


class DeadlineExceeded(TimeoutError):
    """The check's deadline passed and its statement was cancelled on the server."""


def cancel_request(dbapi_connection: Any) -> Callable[[], None]:
    """A function that cancels what `dbapi_connection` (psycopg 3) is running,
    callable from any thread."""
    safe = getattr(dbapi_connection, "cancel_safe", None)  # psycopg >= 3.2

    def cancel() -> None:
        if safe is not None:
            safe(timeout=CANCEL_TIMEOUT_S)
        else:  # pragma: no cover - psycopg 3.1
            dbapi_connection.cancel()

    return cancel


@contextmanager
def _postgresql(conn: Connection, deadline: float) -> Iterator[None]:
    remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
    raw = conn.connection.dbapi_connection
    try:
        if raw is None:  # pragma: no cover - SQLAlchemy always provides one here
            raise RuntimeError("no database connection")
        raw.execute(_PG_SETTINGS, (str(remaining_ms),), prepare=False).close()
        with watch(deadline, cancel_request(raw)) as timer:
            try:
                yield
            except Exception as exc:
                if timer.fired:
                    raise DeadlineExceeded("statement timeout: cut off at the check's "
                                           "deadline and cancelled on the server") from exc
                raise
    except BaseException:
        conn.invalidate()  # never reused: its state is unknown
        raise
    if timer.fired:
        conn.invalidate()  # a late cancel must not meet the next check's statement


@contextmanager
def _sqlite(conn: Connection, deadline: float) -> Iterator[None]:
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


@contextmanager
def database_deadline(conn: Connection, deadline: float) -> Iterator[None]:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        with _postgresql(conn, deadline):
            yield
    elif dialect == "sqlite":
        with _sqlite(conn, deadline):
            yield
    else:
        yield
