"""Where the Stripe checks keep what they have read: a cursor over the Events
API per check and account, the ids seen in the overlap window (for
de-duplication), and per-minute counts and sample ids derived from events (a
sliding-window aggregate, so a run reads only new events).

Self-contained (own MetaData and tables, prefixed `stripe_`) and bound to an
injected engine, so it can live in the monitor's state database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    delete,
    func,
    inspect,
    select,
)

from billing_monitor.checks.stripe.fill_state import FillStore, SqlFillStore

metadata = MetaData()

cursors = Table(
    "stripe_cursors",
    metadata,
    Column("scope", String(200), primary_key=True),  # "check/account"
    Column("event_id", String(255)),  # ending_before for the next read
    Column("event_created", BigInteger, nullable=False),
    Column("covered_since", BigInteger, nullable=False),  # events before this were not read
)

seen_events = Table(
    "stripe_seen_events",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("created", BigInteger, nullable=False),
)

event_counts = Table(
    "stripe_event_counts",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),  # epoch seconds, start of the minute
    Column("key", String(200), primary_key=True),
    # BIGINT: stripe_payment_volume adds amounts in minor units (a minute's
    # can pass 2^31); stores made before are widened in SqlCursorStore.
    Column("count", BigInteger, nullable=False),
)

event_samples = Table(
    "stripe_event_samples",
    metadata,
    Column("scope", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("created", BigInteger, nullable=False),
    Index("ix_stripe_event_samples", "scope", "key", "created"),
)


def _widen_counts(engine: Engine) -> None:
    """A PostgreSQL store made when counts were INTEGER gets BIGINT (SQLite's
    integers are 64-bit whatever the declared type)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        kind = {c["name"]: c["type"] for c in inspect(conn).get_columns(event_counts.name)}
        if not isinstance(kind["count"], BigInteger):
            conn.exec_driver_sql("ALTER TABLE stripe_event_counts ALTER COLUMN count TYPE BIGINT")


@dataclass(frozen=True)
class Cursor:
    event_id: str | None
    event_created: int
    covered_since: int


@dataclass
class CursorUpdate:
    """Everything one read changes, written in one transaction."""

    cursor: Cursor
    seen: list[tuple[str, int]] = field(default_factory=list)  # (event id, created)
    counts: dict[tuple[int, str], int] = field(default_factory=dict)  # (bucket, key) -> n
    samples: list[tuple[str, str, int]] = field(default_factory=list)  # (key, id, created)
    forget_before: int = 0  # drop aggregates older than this (epoch seconds)


class CursorStore(Protocol):
    fills: FillStore  # stripe_payment_volume's back-fill progress (fill_state.py)

    def load(self, scope: str) -> Cursor | None: ...

    def seen(self, scope: str, ids: Iterable[str]) -> set[str]: ...

    def apply(self, scope: str, update: CursorUpdate) -> None: ...

    def counts(self, scope: str, since: int) -> Mapping[str, int]: ...

    def samples(
        self, scope: str, key: str, since: int, limit: int, until: int | None = None
    ) -> list[str]: ...


class SqlCursorStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)
        _widen_counts(engine)
        self.fills: FillStore = SqlFillStore(engine)

    def load(self, scope: str) -> Cursor | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(cursors).where(cursors.c.scope == scope)).first()
        if row is None:
            return None
        return Cursor(row.event_id, int(row.event_created), int(row.covered_since))

    def seen(self, scope: str, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        out: set[str] = set()
        with self._engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                q = select(seen_events.c.event_id).where(
                    seen_events.c.scope == scope, seen_events.c.event_id.in_(wanted[i : i + 500])
                )
                out.update(conn.execute(q).scalars())
        return out

    def apply(self, scope: str, update: CursorUpdate) -> None:
        c = update.cursor
        with self._engine.begin() as conn:
            conn.execute(delete(cursors).where(cursors.c.scope == scope))
            conn.execute(
                cursors.insert().values(
                    scope=scope, event_id=c.event_id, event_created=c.event_created,
                    covered_since=c.covered_since,
                )
            )
            if update.seen:
                conn.execute(
                    seen_events.insert(),
                    [{"scope": scope, "event_id": i, "created": t} for i, t in update.seen],
                )
            # Ids older than the cursor can never be listed again: forget them.
            conn.execute(
                delete(seen_events).where(
                    seen_events.c.scope == scope, seen_events.c.created < c.event_created
                )
            )
            for (bucket, key), n in update.counts.items():
                old = conn.execute(
                    select(event_counts.c.count).where(
                        event_counts.c.scope == scope, event_counts.c.bucket == bucket,
                        event_counts.c.key == key,
                    )
                ).scalar()
                if old is None:
                    conn.execute(
                        event_counts.insert().values(scope=scope, bucket=bucket, key=key, count=n)
                    )
                else:
                    conn.execute(
                        event_counts.update()
                        .where(
                            event_counts.c.scope == scope, event_counts.c.bucket == bucket,
                            event_counts.c.key == key,
                        )
                        .values(count=old + n)
                    )
            if update.samples:
                conn.execute(
                    event_samples.insert(),
                    [{"scope": scope, "key": k, "object_id": i, "created": t}
                     for k, i, t in update.samples],
                )
            conn.execute(
                delete(event_counts).where(
                    event_counts.c.scope == scope, event_counts.c.bucket < update.forget_before
                )
            )
            conn.execute(
                delete(event_samples).where(
                    event_samples.c.scope == scope, event_samples.c.created < update.forget_before
                )
            )

    def counts(self, scope: str, since: int) -> Mapping[str, int]:
        q = (
            select(event_counts.c.key, func.sum(event_counts.c.count))
            .where(event_counts.c.scope == scope, event_counts.c.bucket >= since)
            .group_by(event_counts.c.key)
        )
        with self._engine.connect() as conn:
            return {str(k): int(n) for k, n in conn.execute(q)}

    def samples(
        self, scope: str, key: str, since: int, limit: int, until: int | None = None
    ) -> list[str]:
        q = (
            select(event_samples.c.object_id)
            .where(
                event_samples.c.scope == scope, event_samples.c.key == key,
                event_samples.c.created >= since,
                event_samples.c.created < (until if until is not None else 2**62),
            )
            .order_by(event_samples.c.created.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [str(i) for i in conn.execute(q).scalars()]
