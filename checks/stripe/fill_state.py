"""Where `stripe_payment_volume`'s back-fill from Events keeps its progress
between runs (checks/stripe/volume_fill.py), so that a back-fill cut short by
its page bound or the check's deadline resumes where it stopped, and nothing
is counted twice: a run's pages and the progress they made are written in one
transaction, or not at all (then the next run reads the same pages again).

Per check and account (the cursor store's scope): the span being read
(`created[gte]` .. `created[lt]`), the `starting_after` of the next page, how
far down every event has been read, how far down the history is filled, the
last run (a gap since then is history missing), and the per-minute counts and
amounts read but not yet turned into history (BIGINT: a minute's amount in
minor units can pass 2^31).

Self-contained like checks/stripe/state.py (own tables, `stripe_` prefix, made
on first use) and bound to the cursor store's engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    delete,
    select,
)

metadata = MetaData()

fills = Table(
    "stripe_history_fills",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("since", BigInteger, nullable=False),  # created[gte] of the span
    Column("until", BigInteger, nullable=False),  # created[lt]: live history from here on
    Column("next_id", String(255)),  # starting_after of the next page; NULL: from the top
    Column("read_down_to", BigInteger, nullable=False),  # all of [read_down_to, until) read
    Column("filled_down_to", BigInteger, nullable=False),  # windows ending >= this: filled
    Column("last_run", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
)

fill_minutes = Table(
    "stripe_history_fill_minutes",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("minute", BigInteger, primary_key=True),  # epoch seconds, start of the minute
    Column("key", String(200), primary_key=True),  # currency:usd | amount:usd
    Column("total", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Fill:
    since: int
    until: int
    next_id: str | None
    read_down_to: int
    filled_down_to: int
    last_run: int
    done: bool


Minutes = Mapping[tuple[int, str], int]  # (minute, key) -> total


class FillStore(Protocol):
    def load(self, scope: str) -> Fill | None: ...

    def save(self, scope: str, fill: Fill, added: Minutes, *, restart: bool = False) -> None:
        """The new progress and the minutes just read, in one transaction;
        `restart` first forgets every minute kept (a span read again)."""
        ...

    def minutes(self, scope: str, since: int, until: int) -> dict[tuple[int, str], int]: ...


class SqlFillStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    def load(self, scope: str) -> Fill | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(fills).where(fills.c.scope == scope)).first()
        if row is None:
            return None
        return Fill(int(row.since), int(row.until), row.next_id, int(row.read_down_to),
                    int(row.filled_down_to), int(row.last_run), bool(row.done))

    def save(self, scope: str, fill: Fill, added: Minutes, *, restart: bool = False) -> None:
        mine = fill_minutes.c.scope == scope
        with self._engine.begin() as conn:
            if restart:
                conn.execute(delete(fill_minutes).where(mine))
            conn.execute(delete(fills).where(fills.c.scope == scope))
            conn.execute(fills.insert().values(scope=scope, **fill.__dict__))
            old = {(int(r.minute), str(r.key)): int(r.total) for r in conn.execute(
                select(fill_minutes).where(mine, fill_minutes.c.minute.in_(
                    sorted({m for m, _ in added}))))} if added else {}
            if old:
                conn.execute(delete(fill_minutes).where(mine, fill_minutes.c.minute.in_(
                    sorted({m for m, _ in old}))))
            rows = {k: old.get(k, 0) for k in old.keys() | added.keys()}
            for k, n in added.items():
                rows[k] += n
            if rows:
                conn.execute(fill_minutes.insert(), [
                    {"scope": scope, "minute": m, "key": k, "total": n}
                    for (m, k), n in rows.items()])
            # Minutes at or above the filled edge are no window's any more.
            conn.execute(delete(fill_minutes).where(
                mine, fill_minutes.c.minute >= fill.filled_down_to))

    def minutes(self, scope: str, since: int, until: int) -> dict[tuple[int, str], int]:
        q = select(fill_minutes.c.minute, fill_minutes.c.key, fill_minutes.c.total).where(
            and_(fill_minutes.c.scope == scope, fill_minutes.c.minute >= since,
                 fill_minutes.c.minute < until))
        with self._engine.connect() as conn:
            return {(int(m), str(k)): int(n) for m, k, n in conn.execute(q)}
