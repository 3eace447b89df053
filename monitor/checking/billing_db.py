"""The billing database engine: a sandbox in which a check can only read.

Layers, each of which holds alone (README "A read-only SQL sandbox"):

PostgreSQL (psycopg 3)
- every statement goes through the extended protocol (`prepare_threshold=0`:
  each is parsed as a prepared statement), which refuses a string holding
  several statements, so `COMMIT; DELETE ...` never reaches the executor;
- the session is read-only and time-limited from the moment it connects
  (libpq `options`: default_transaction_read_only, statement_timeout,
  idle_in_transaction_session_timeout, lock_timeout), so no SET inside a
  transaction is needed for that, and a COMMIT could not escape it;
- a session is reused from one check run to the next only after a rollback
  and DISCARD ALL, and never after a failed or cancelled run
  (monitor/checking/session_reuse.py): nothing a query does to its session
  (an advisory lock, a setting, a prepared statement) outlives the run;
- `client_connection_check_interval`: a query whose client went away (the
  process was killed) is stopped by the server;
- `cancel_running` cancels, on the server, what is still running when the
  monitor stops; checks/deadline.py does so at each check's deadline.

SQLite
- the file is opened read-only (`mode=ro`), `PRAGMA query_only`, and an
  authorizer that allows reading only: ATTACH (which would create a file),
  VACUUM INTO, writes, pragma writes and extension loading are denied.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from billing_monitor.checking.session_reuse import reuse_sessions
from billing_monitor.checks.deadline import cancel_request
from billing_monitor.checks.sqlguard import FUNCTIONS

log = logging.getLogger("billing_monitor.database")

DEFAULT_TIMEOUT_S = 30.0
LOCK_TIMEOUT_MS = 5000  # waiting behind a migration's lock: give up, never queue others
CLIENT_CHECK_MS = 1000


def session_options(timeout_s: float) -> str:
    """libpq `options` for a read-only, time-limited session."""
    ms = max(1000, int(timeout_s * 1000))
    settings = {
        "default_transaction_read_only": "on",
        "statement_timeout": ms,
        "idle_in_transaction_session_timeout": ms,
        "lock_timeout": min(ms, LOCK_TIMEOUT_MS),
        # A check is short: a JIT compile costs more than it saves (docs/benchmarks.md).
        "jit": "off",
        # Every statement is prepared; keep planning each with its values.
        "plan_cache_mode": "force_custom_plan",
        "client_connection_check_interval": CLIENT_CHECK_MS,
    }
    return " ".join(f"-c {k}={v}" for k, v in settings.items())


class _Running:
    """The DBAPI connections checked out of one engine, to cancel at stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: set[Any] = set()

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        with self._lock:
            self._connections.add(dbapi_connection)

    def checkin(self, dbapi_connection: Any, record: Any) -> None:
        with self._lock:
            self._connections.discard(dbapi_connection)

    def cancel_all(self) -> int:
        with self._lock:
            running = list(self._connections)
        for connection in running:
            try:
                cancel_request(connection)()
            except Exception as exc:  # the server's statement_timeout still holds
                log.warning("could not cancel a running check query: %s", type(exc).__name__)
        return len(running)


_RUNNING: weakref.WeakKeyDictionary[Engine, _Running] = weakref.WeakKeyDictionary()


def cancel_running(engine: Engine) -> int:
    """Cancel on the server every query still running on `engine` (the
    daemon stopping); returns how many there were."""
    running = _RUNNING.get(engine)
    return running.cancel_all() if running is not None else 0


_READ_PRAGMAS = frozenset({"read_uncommitted", "query_only", "table_info", "table_xinfo",
                           "index_list", "index_info", "index_xinfo", "foreign_key_list"})
_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE,
                      # the driver's own ROLLBACK; one statement per execute() anyway
                      sqlite3.SQLITE_TRANSACTION})


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None,
                      source: str | None) -> int:
    """Allow reading; deny everything else (ATTACH, VACUUM, writes, DDL)."""
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in FUNCTIONS else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        writes = arg2 is not None and arg1 in ("read_uncommitted", "query_only")
        return sqlite3.SQLITE_DENY if writes else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _sandbox_sqlite(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA query_only = ON")
    connection.set_authorizer(sqlite_authorizer)


def _sqlite_engine(path: str | None, read_only: bool) -> Engine:
    if not path or path == ":memory:":
        engine = create_engine("sqlite://")  # one in-memory database per thread
    else:
        mode = "ro" if read_only else "rwc"
        uri = f"file:{quote(path)}?mode={mode}"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
    if read_only:
        event.listen(engine, "connect", lambda dbapi, record: _sandbox_sqlite(dbapi))
    return engine


def open_engine(url: str, *, read_only: bool = True,
                timeout_s: float = DEFAULT_TIMEOUT_S, sessions: int = 4) -> Engine:
    """An engine for the billing database, read-only unless told otherwise
    (the demo and the tests write their data with `read_only=False`). A SQLite
    file must exist (a typo in its path is an error, not a new empty file).
    `timeout_s` bounds every statement of the session (the longest check
    timeout); each check also has its own deadline (checks/deadline.py).
    On PostgreSQL, up to `sessions` idle read-only sessions are kept for
    reuse (as many as checks run at once; more are opened when needed)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u.database, read_only)
    connect_args: dict[str, Any] = {}
    pooled = read_only and u.get_backend_name() == "postgresql"
    if u.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": 10, "application_name": "billing-monitor"}
        if read_only:
            own = u.query.get("options")
            mine = session_options(timeout_s)
            connect_args["options"] = f"{own} {mine}" if isinstance(own, str) else mine
            connect_args["prepare_threshold"] = 0
    if pooled:
        engine = create_engine(url, pool_size=sessions, max_overflow=-1,
                               pool_reset_on_return=None, connect_args=connect_args)
        reuse_sessions(engine)
    else:
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    if read_only:
        running = _Running()
        event.listen(engine, "checkout", running.checkout)
        event.listen(engine, "checkin", running.checkin)
        _RUNNING[engine] = running
    return engine
