"""Reusing a sandboxed PostgreSQL session from one check run to the next
(issue 10: a new session per run cost 4-9 ms; docs/benchmarks.md section 8).

What keeps issue 9's guarantees with a pooled session:

- read-only and time-limited from connect: unchanged, the connection
  options (monitor/checking/billing_db.py) are the session's defaults, and
  `RESET ALL` (part of DISCARD ALL) returns every setting to them;
- nothing one check does is visible to the next: at every check-in the
  transaction is rolled back (which undoes `set_config(..., false)`, SET,
  cursors, temporary objects of the transaction) and `DISCARD ALL` is run
  outside a transaction: prepared statements (SQL PREPARE and psycopg's own),
  WITH HOLD cursors, LISTEN, session advisory locks, temporary tables, plans,
  sequence state and every setting go; if the reset fails the connection is
  closed (SQLAlchemy invalidates it);
- a connection whose check failed, or whose deadline's cancel was sent, is
  closed and never reused (checks/deadline.py): a cancel request may land
  after the statement it was meant for, so it must never meet the next one;
- a session idle longer than `IDLE_PING_S` is tried once at checkout (the
  server may have dropped it between cycles): a dead one is replaced by a
  new session instead of failing the check; within a cycle, no ping.

`setseed()` would survive DISCARD ALL: it is refused at validate
(checks/sqlguard.py FUNCTIONS).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_PING_S = 5.0
_IDLE_SINCE = "billing_monitor_idle_since"


def _reset(dbapi_connection: Any, record: Any, state: Any) -> None:
    dbapi_connection.rollback()
    if state.terminate_only:
        return
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("DISCARD ALL", prepare=False)
    finally:
        dbapi_connection.autocommit = False


def _idle_from(dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _alive_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    since = record.info.pop(_IDLE_SINCE, None)
    if since is None or time.monotonic() - since < IDLE_PING_S:
        return
    try:
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SELECT 1", prepare=False)
        dbapi_connection.autocommit = False
    except Exception as exc:  # the pool closes it and connects anew
        raise DisconnectionError("the pooled session was gone") from exc


def reuse_sessions(engine: Engine) -> None:
    """Make `engine` (a pooled PostgreSQL engine, `pool_reset_on_return=None`)
    hand each check run a session as clean as a new one."""
    event.listen(engine, "reset", _reset)
    event.listen(engine, "checkin", _idle_from)
    event.listen(engine, "checkout", _alive_if_idle)
