"""The transactional outbox: notifications are inserted on the caller's
connection (inside the transaction that changed the alert state) as one row
per channel, and read back by the dispatcher. Also the outbox metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, or_, select, update

from billing_monitor.alerting.tables import outbox, utc
from billing_monitor.alerts.contract import Notification


def to_payload(n: Notification) -> dict[str, Any]:
    data = asdict(n)
    data["occurred_at"] = utc(n.occurred_at).isoformat()
    data["custom_details"] = dict(n.custom_details)
    data["links"] = [list(link) for link in n.links]
    return data


def from_payload(data: Mapping[str, Any]) -> Notification:
    d = dict(data)
    d["occurred_at"] = datetime.fromisoformat(d["occurred_at"])
    d["links"] = tuple((str(h), str(t)) for h, t in d.get("links", []))
    return Notification(**d)


def enqueue(
    conn: Connection, n: Notification, channels: Iterable[str], now: datetime
) -> list[int]:
    """One row per channel, so one channel failing never blocks another."""
    ids = []
    for channel in channels:
        res = conn.execute(outbox.insert().values(
            created_at=utc(now), channel=channel, dedup_key=n.dedup_key,
            payload=to_payload(n), attempts=0, next_attempt_at=utc(now), dead=False,
        ))
        ids.append(int(cast(Any, res.inserted_primary_key)[0]))
    return ids


@dataclass(frozen=True)
class Row:
    id: int
    channel: str
    dedup_key: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    payload: Mapping[str, Any]
    claimed_by: str | None = None  # set while an attempt is in flight


_PENDING = and_(outbox.c.delivered_at.is_(None), outbox.c.dead.is_(False))


def pending(conn: Connection, limit: int = 1000) -> list[Row]:
    """Undelivered live rows, oldest first (due or not: order matters)."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.channel, outbox.c.dedup_key, outbox.c.created_at,
               outbox.c.attempts, outbox.c.next_attempt_at, outbox.c.payload,
               outbox.c.claimed_by)
        .where(_PENDING).order_by(outbox.c.id).limit(limit)
    ).all()
    return [Row(r.id, r.channel, r.dedup_key, utc(r.created_at), r.attempts,
                utc(r.next_attempt_at), r.payload, r.claimed_by) for r in rows]


def claim(conn: Connection, row: Row, lease_until: datetime, holder: str) -> bool:
    """Take the row for one attempt; False if another dispatcher got it first.
    The lease makes a crashed attempt due again once it expires; the holder
    lets this host see at once that the process which claimed it is gone."""
    res = conn.execute(_CLAIM, {"b_id": row.id, "b_attempts": row.attempts,
                                "attempts": row.attempts + 1,
                                "next_attempt_at": utc(lease_until), "claimed_by": holder})
    return res.rowcount == 1


# Built once (bound parameters): one of these runs for every delivery attempt.
_CLAIM = update(outbox).where(outbox.c.id == bindparam("b_id"),
                              outbox.c.attempts == bindparam("b_attempts"), _PENDING)
_BY_ID = update(outbox).where(outbox.c.id == bindparam("b_id"))


def delivered(conn: Connection, row_id: int, now: datetime) -> None:
    conn.execute(_BY_ID, {"b_id": row_id, "delivered_at": utc(now), "last_error": None,
                          "claimed_by": None})


def retry_at(conn: Connection, row_id: int, when: datetime, error: str) -> None:
    conn.execute(_BY_ID, {"b_id": row_id, "next_attempt_at": utc(when),
                          "last_error": error[:500], "claimed_by": None})


def dead(conn: Connection, row_id: int, error: str) -> None:
    conn.execute(_BY_ID, {"b_id": row_id, "dead": True, "last_error": error[:500],
                          "claimed_by": None})


def prune(conn: Connection, before: datetime) -> int:
    """Forget delivered and dead rows created before `before` (pending rows
    are never pruned). Dead rows were logged at ERROR when they died."""
    res = conn.execute(delete(outbox).where(
        outbox.c.created_at < utc(before),
        or_(outbox.c.delivered_at.is_not(None), outbox.c.dead.is_(True)),
    ))
    return int(res.rowcount)


@dataclass(frozen=True)
class Backlog:
    """One receiver's share of the outbox."""

    depth: int = 0
    oldest_age_seconds: float = 0.0
    dead: int = 0


@dataclass(frozen=True)
class OutboxStats:
    depth: int  # undelivered rows still being tried
    oldest_age_seconds: float  # age of the oldest of them, 0 when empty
    dead: int  # rows given up on within the last `keep_days` (logged when they died)
    # The same per receiver (outbox channel), for those with rows pending or dead.
    receivers: Mapping[str, Backlog] = field(default_factory=dict)


# Per receiver; their WHERE clauses are the partial indexes' predicates (migration v6).
DEPTH = (select(outbox.c.channel, func.count(), func.min(outbox.c.created_at))
         .where(_PENDING).group_by(outbox.c.channel))
DEAD = select(outbox.c.channel, func.count()).where(outbox.c.dead.is_(True)) \
    .group_by(outbox.c.channel)


def stats(engine: Engine, now: datetime) -> OutboxStats:
    """Outbox depth, oldest pending age and dead rows, in all and per receiver,
    for the metrics sinks. Reads only pending and dead rows (partial indexes)."""
    with engine.connect() as conn:
        pending_rows = conn.execute(DEPTH).all()
        dead_rows = conn.execute(DEAD).all()

    def age(oldest: datetime | None) -> float:
        return max((utc(now) - utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0

    waiting = {str(c): (int(n), age(oldest)) for c, n, oldest in pending_rows}
    given_up = {str(c): int(n) for c, n in dead_rows}
    receivers = {c: Backlog(*waiting.get(c, (0, 0.0)), given_up.get(c, 0))
                 for c in sorted(waiting.keys() | given_up.keys())}
    return OutboxStats(sum(b.depth for b in receivers.values()),
                       max((b.oldest_age_seconds for b in receivers.values()), default=0.0),
                       sum(b.dead for b in receivers.values()), receivers)


class GaugeClient(Protocol):
    def gauge(self, metric: str, value: float, *, tags: list[str] | None = None) -> Any: ...


def emit_gauges(client: GaugeClient, namespace: str, tags: list[str], s: OutboxStats,
                receivers: Iterable[str] = ()) -> None:
    """billing.outbox.depth, .oldest_age_seconds and .dead as DogStatsD gauges,
    and the same per receiver as billing.outbox.receiver.* tagged
    `receiver:NAME`: every configured receiver (0 when it has nothing waiting,
    so a backlog that clears shows as cleared) and any other with rows left."""
    client.gauge(f"{namespace}outbox.depth", s.depth, tags=tags)
    client.gauge(f"{namespace}outbox.oldest_age_seconds", round(s.oldest_age_seconds, 3),
                 tags=tags)
    client.gauge(f"{namespace}outbox.dead", s.dead, tags=tags)
    for name in sorted(set(receivers) | s.receivers.keys()):
        b = s.receivers.get(name, Backlog())
        own = [*tags, f"receiver:{name}"]
        client.gauge(f"{namespace}outbox.receiver.depth", b.depth, tags=own)
        client.gauge(f"{namespace}outbox.receiver.oldest_age_seconds",
                     round(b.oldest_age_seconds, 3), tags=own)
        client.gauge(f"{namespace}outbox.receiver.dead", b.dead, tags=own)
