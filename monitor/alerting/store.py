"""The state store: alert state, the outbox, silences and the last result of
every check (tables.py), on its own engine: a SQLite file by default,
PostgreSQL for production and HA. `open_state` migrates it to the latest
schema version (migrations.py) before returning."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url

from billing_monitor.alerting.migrations import migrate
from billing_monitor.alerting.store_guard import sqlite_store_engine

log = logging.getLogger("billing_monitor.state")


def _wal(dbapi_conn: Any, timeout: float = 30.0) -> None:
    """Switch a SQLite file to WAL. On a new file that several processes open at
    once, SQLite answers "database is locked" at once instead of waiting for
    the busy timeout: retry within the same bound as the connect timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _sqlite_immediate(engine: Engine) -> None:
    """SQLite: take the write lock at BEGIN, so a read-modify-write of alert
    state in two processes serialises instead of failing at commit."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        # WAL: one fsync per commit instead of several, and `status` can read
        # while a check writes. synchronous stays FULL: a commit survives power loss.
        _wal(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# Every connection of a PostgreSQL state store carries its URL (no password)
# under this execution option: the lease's fence (leadership.py) guards those.
STORE_OPTION = "billing_monitor_state"


def store_key(url: str) -> str:
    return make_url(url).set(password=None).render_as_string(hide_password=True)


def open_state(url: str) -> Engine:
    """An engine on the state store, its schema migrated to the latest version.
    A SQLite file is created (and migrated) here, once: the engine returned
    never creates it again (monitor/alerting/store_guard.py)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        _sqlite_immediate(engine)
        path = u.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            migrate(engine)
            engine.dispose()
            engine = sqlite_store_engine(path, lambda: datetime.now(UTC))
            _sqlite_immediate(engine)
    else:
        # One engine for the process's life, no ping per checkout (a round
        # trip per transaction): a connection the server dropped fails its
        # first statement, the pool is invalidated and the alert engine runs
        # that transaction again on a new one (engine.py); the lease retries
        # at its next renewal. prepare_threshold=None: no server-side prepared
        # statements, which PgBouncer in transaction mode cannot keep.
        args: dict[str, Any] = {"connect_timeout": 10, "application_name": "billing-monitor"}
        if u.get_driver_name() == "psycopg":
            args["prepare_threshold"] = None
        engine = create_engine(url, connect_args=args,
                               execution_options={STORE_OPTION: store_key(url)})
    migrate(engine)
    return engine
