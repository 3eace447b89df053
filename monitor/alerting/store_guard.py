"""Keeps a SQLite state store honest while a process holds it open.

A pooled SQLite connection keeps writing to its file even after the file was
deleted: the daemon would go on recording incidents in an unlinked inode
while `status` (which opens the path) showed an empty store, and everything
open would be lost at the next restart. So the file is created only once, at
start-up; later connections open it without creating it (`mode=rw`), and
every checkout compares the connection's file with the one at the path:

- the path is gone: the store is written back there from the connection that
  still has it open (nothing stored is lost), logged at ERROR and reported
  (/healthz 503 for `HOLD`, a metric), then every connection reopens it;
- the path holds another file (restored from a backup): connections reopen it;
- it cannot be written back (the directory went too): the checkout fails
  with that reason, and the daemon reports the store unwritable.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

log = logging.getLogger("billing_monitor.state")
HOLD = timedelta(minutes=15)  # how long /healthz reports a restored store


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class StoreEvents:
    """What happened to the store file; the daemon's /healthz and metrics read it."""

    def __init__(self) -> None:
        self.restored_at: datetime | None = None
        self.listeners: list[Callable[[str], None]] = []

    def restored(self, at: datetime) -> None:
        self.restored_at = at
        for listener in self.listeners:
            listener("restored")

    def problem(self, now: datetime) -> str | None:
        if self.restored_at is not None and now - self.restored_at < HOLD:
            return (f"the state store file was deleted at {self.restored_at.isoformat()} "
                    "and written back from the open database")
        return None


_EVENTS: WeakKeyDictionary[Engine, StoreEvents] = WeakKeyDictionary()


def events_of(engine: Engine) -> StoreEvents | None:
    """The events of a guarded store (None: PostgreSQL, or not guarded)."""
    return _EVENTS.get(engine)


def sqlite_store_engine(path: str, clock: Callable[[], datetime]) -> Engine:
    """An engine on the existing SQLite file at `path` that never creates it
    again, guarded as the module says."""
    uri = f"file:{quote(os.path.abspath(path))}?mode=rw"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)
    events = _EVENTS[engine] = StoreEvents()
    lock = threading.Lock()

    @event.listens_for(engine, "connect")
    def _remember(dbapi_conn: Any, record: Any) -> None:
        record.info["file"] = _identity(path)

    @event.listens_for(engine, "checkout")
    def _same_file(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if record.info.get("file") == _identity(path):
            return
        with lock:
            if _identity(path) is None:
                _write_back(dbapi_conn, path)
                events.restored(clock())
        raise DisconnectionError("the state store file changed under this connection")

    return engine


def _write_back(dbapi_conn: sqlite3.Connection, path: str) -> None:
    try:
        with sqlite3.connect(path) as target:
            dbapi_conn.backup(target)
    except sqlite3.Error as exc:
        log.error("state store %s was deleted while in use and cannot be written back: %s",
                  path, exc)
        return
    log.error("state store %s was deleted while in use: written back from the open "
              "database (nothing lost); find out what deleted it", path)
