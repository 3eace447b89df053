"""Whether this instance is the active one, kept by renewing the lease
(lease.py) every third of its length, and the fence on the state store: once
installed, every transaction on the daemon's state engine first checks the
lease at this instance's epoch (lease.guard), so a leader that was paused or
cut off and has lost the lease cannot write alert state, claim or mark an
outbox row, or move a Stripe cursor. `SoleLeader` is the null object for the
single-instance store (SQLite): always the leader, nothing fenced."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event

from billing_monitor.alerting import lease
from billing_monitor.alerting.store import STORE_OPTION
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.leadership")

UNFENCED = lease.UNFENCED


def holder_id() -> str:
    """Unique per process: host, pid and a random part (a restarted process on
    the same host is a new holder, with a new epoch)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SoleLeader:
    """Single instance (SQLite store): always the leader."""

    fenced = False
    holder = "sole"
    epoch = 0

    def is_leader(self) -> bool:
        return True

    def tick(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def install_fence(self, engine: Engine | None = None) -> None:
        return None

    def remove_fence(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"role": "leader", "mode": "single instance (no lease)"}


class Leadership:
    """The lease of one instance on a PostgreSQL state store."""

    fenced = True

    def __init__(self, engine: Engine, seconds: float, *, holder: str | None = None,
                 name: str = lease.DEFAULT_NAME,
                 on_change: Callable[[bool, int], None] = lambda leader, epoch: None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self.seconds = seconds
        self.holder = holder or holder_id()
        self.name = name
        self._on_change = on_change
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.epoch = 0
        self._valid_until = 0.0  # local monotonic bound of the last renewal
        self._leader = False
        self.last_error: str | None = None
        self._key = engine.get_execution_options().get(STORE_OPTION)
        self._fenced_on: Engine | type[Engine] | None = None

    def is_leader(self) -> bool:
        with self._lock:
            return self._leader and self._monotonic() < self._valid_until

    def _unfenced(self) -> Connection:
        return self._engine.connect().execution_options(**{UNFENCED: True})

    def tick(self) -> bool:
        """Take or renew the lease; True while this instance is the leader.
        The local bound counts from before the request, so it can only end
        earlier than the database's expires_at, never later."""
        started = self._monotonic()
        term: lease.Term | None = None
        try:
            with self._unfenced() as conn, conn.begin():
                term = lease.acquire(conn, self.holder, self.seconds, self.name)
            self.last_error = None
        except Exception as exc:  # the database is away: keep the term it granted
            self.last_error = describe_error(exc)
            log.warning("lease %s: cannot reach the state store: %s", self.name,
                        self.last_error)
            with self._lock:
                leader = self._leader and self._monotonic() < self._valid_until
            self._set(leader, self.epoch, None)
            return leader
        if term is None:
            self._set(False, self.epoch, None)
            return False
        self._set(True, term.epoch, started + self.seconds)
        return True

    def _set(self, leader: bool, epoch: int, valid_until: float | None) -> None:
        with self._lock:
            changed = leader != self._leader or (leader and epoch != self.epoch)
            self._leader = leader
            self.epoch = epoch
            if valid_until is not None:
                self._valid_until = valid_until
        if changed:
            if leader:
                log.info("lease %s: this instance is now the leader (holder %s, epoch %d)",
                         self.name, self.holder, epoch)
            else:
                log.warning("lease %s: this instance is standing by (holder %s, was epoch %d)",
                            self.name, self.holder, epoch)
            self._on_change(leader, epoch)

    def release(self) -> None:
        """At a clean stop: hand the lease over at once."""
        try:
            with self._unfenced() as conn, conn.begin():
                lease.release(conn, self.holder, self.name)
        except Exception as exc:
            log.warning("lease %s: not released (it lapses by itself): %s", self.name,
                        describe_error(exc))
        self._set(False, self.epoch, 0.0)

    def guard(self, conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(UNFENCED) or options.get(STORE_OPTION) != self._key:
            return
        lease.guard(conn, self.holder, self.epoch, self.seconds, self.name)

    def install_fence(self, engine: Engine | None = None) -> None:
        """Fence every transaction on `engine`, or (None: the daemon) on every
        engine of this process opened on the same state store (alert state,
        outbox, Stripe cursors, and those a reload opens), except the lease's own."""
        self._fenced_on = engine if engine is not None else Engine
        event.listen(self._fenced_on, "begin", self.guard)

    def remove_fence(self) -> None:
        if self._fenced_on is not None and event.contains(self._fenced_on, "begin", self.guard):
            event.remove(self._fenced_on, "begin", self.guard)
        self._fenced_on = None

    def describe(self) -> dict[str, Any]:
        leader = self.is_leader()
        body: dict[str, Any] = {
            "role": "leader" if leader else "standby",
            "holder": self.holder, "epoch": self.epoch, "lease_seconds": self.seconds,
        }
        if self.last_error:
            body["error"] = self.last_error
        return body


Role = SoleLeader | Leadership
