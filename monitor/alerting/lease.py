"""One active instance among those sharing a PostgreSQL state store: a lease
row (`leader_lease`: holder, epoch, expires_at), taken, renewed and released
in single short transactions on the DATABASE's clock (clock_timestamp()), so
the hosts' clocks never matter. The epoch goes up at every change of holder
(and when a lapsed lease is taken again); `guard` fences a write on it.

No session state: no advisory lock, no SET outside a transaction, no named
prepared statement, so it works through PgBouncer in transaction mode.
SQLite is the single-instance store: there the instance is always the leader
(`SoleLeader` in leadership.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from billing_monitor.alerting.tables import utc

DEFAULT_NAME = "billing-monitor"
# Execution option of the transactions the fence lets through: the lease's
# own, schema migrations, the write probe.
UNFENCED = "billing_monitor_unfenced"


class NotLeader(Exception):
    """This instance no longer holds the lease (or never did): the write is refused."""


@dataclass(frozen=True)
class Term:
    """A lease as the database has it."""

    holder: str
    epoch: int
    expires_at: datetime
    since: datetime | None = None  # when this holder took it (None: before migration v8)


def _local(conn: Connection, setting: str, seconds: float) -> None:
    """SET LOCAL (this transaction only: safe behind PgBouncer) of a timeout."""
    conn.exec_driver_sql(f"SET LOCAL {setting} = {max(1, int(seconds * 1000))}")


_ACQUIRE = text("""
INSERT INTO leader_lease AS l (name, holder, epoch, expires_at, renewed_at, acquired_at)
VALUES (:name, :holder, 1, clock_timestamp() + make_interval(secs => :secs),
        clock_timestamp(), clock_timestamp())
ON CONFLICT (name) DO UPDATE SET
  holder = EXCLUDED.holder,
  epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp()
               THEN l.epoch ELSE l.epoch + 1 END,
  acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp()
                     THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
  expires_at = EXCLUDED.expires_at,
  renewed_at = EXCLUDED.renewed_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
RETURNING l.holder, l.epoch, l.expires_at, l.acquired_at
""")


def acquire(conn: Connection, holder: str, seconds: float,
            name: str = DEFAULT_NAME) -> Term | None:
    """Take the lease if it is free or lapsed, renew it if `holder` has it;
    None if another holder's lease is still running. One statement: two
    contenders at the same instant are ordered by the row (or its unique
    index), and exactly one gets it. Waits at most `seconds` for a lock (a
    paused leader's open transaction is ended by the server, see `guard`)."""
    _local(conn, "lock_timeout", seconds)
    row = conn.execute(_ACQUIRE, {"name": name, "holder": holder,
                                  "secs": float(seconds)}).first()
    if row is None:
        return None
    since = None if row.acquired_at is None else utc(row.acquired_at)
    return Term(row.holder, int(row.epoch), utc(row.expires_at), since)


def release(conn: Connection, holder: str, name: str = DEFAULT_NAME) -> bool:
    """Give the lease up now (at a clean stop), so a standby need not wait for
    it to lapse. The epoch is kept; the next holder raises it."""
    res = conn.execute(text(
        "UPDATE leader_lease SET expires_at = clock_timestamp() "
        "WHERE name = :name AND holder = :holder AND expires_at > clock_timestamp()"),
        {"name": name, "holder": holder})
    return bool(res.rowcount)


def current(conn: Connection, name: str = DEFAULT_NAME) -> tuple[Term, bool] | None:
    """The lease and whether it is still running (database clock), for `status`."""
    row = conn.execute(text(
        "SELECT holder, epoch, expires_at, acquired_at, "
        "expires_at > clock_timestamp() AS live "
        "FROM leader_lease WHERE name = :name"), {"name": name}).first()
    if row is None:
        return None
    since = None if row.acquired_at is None else utc(row.acquired_at)
    return Term(row.holder, int(row.epoch), utc(row.expires_at), since), bool(row.live)


def guard(conn: Connection, holder: str, epoch: int, seconds: float,
          name: str = DEFAULT_NAME) -> None:
    """Fence the rest of this transaction on `epoch`: raise NotLeader unless
    `holder` still holds the lease at that epoch and it has not lapsed. The row
    is share-locked until commit, so a takeover is ordered after this
    transaction, never in its middle. A holder paused (SIGSTOP) inside it
    would keep that lock: the server ends the session once it has been idle
    in the transaction for a lease length, and the takeover proceeds."""
    _local(conn, "idle_in_transaction_session_timeout", seconds)
    row = conn.execute(text(
        "SELECT epoch FROM leader_lease WHERE name = :name AND holder = :holder "
        "AND epoch = :epoch AND expires_at > clock_timestamp() FOR SHARE"),
        {"name": name, "holder": holder, "epoch": epoch}).first()
    if row is None:
        raise NotLeader(f"lease {name!r} epoch {epoch} is no longer held by {holder}")
