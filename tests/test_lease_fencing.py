"""Fencing of the writes a leader makes through the product's own code (issue
11): a leader paused past its lease wakes up still believing it leads (its
monotonic clock did not move) and tries to claim an outbox row, mark one
delivered and move a Stripe cursor; each is refused (NotLeader) and the store
is unchanged, while the new leader's same writes go through. Two lease holders
in-process on the suite's PostgreSQL; expiry is made on the database's clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text

from billing_monitor.alerting import lease, outbox
from billing_monitor.alerting.leadership import Leadership
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import outbox as outbox_table
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.stripe.state import Cursor, CursorUpdate, SqlCursorStore
from tests.peers.postgres import PostgresServer

_numbers = itertools.count()
NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


class _Frozen:
    """A monotonic clock that stood still while the process was stopped."""

    def __call__(self) -> float:
        return 100.0


@pytest.fixture
def engines(pg_server: PostgresServer) -> Iterator[tuple[Engine, Engine]]:
    name = f"lease_fencing_{next(_numbers)}"
    pg_server.fresh_database(name)
    old, new = open_state(pg_server.url(name)), open_state(pg_server.url(name))
    yield old, new
    old.dispose()
    new.dispose()


def _takeover(old_engine: Engine, new_engine: Engine) -> tuple[Leadership, Leadership]:
    old = Leadership(old_engine, 30, holder="old", monotonic=_Frozen())
    new = Leadership(new_engine, 30, holder="new")
    old.install_fence(old_engine)
    new.install_fence(new_engine)
    assert old.tick() is True and new.tick() is False
    return old, new


def _lapse(engine: Engine, new: Leadership) -> None:
    with engine.connect().execution_options(**{lease.UNFENCED: True}) as conn, conn.begin():
        conn.execute(text("UPDATE leader_lease SET expires_at = clock_timestamp() "
                          "- interval '1 second'"))
    assert new.tick() is True and new.epoch == 2


def _notification() -> Notification:
    return Notification(action="trigger", reason="open", dedup_key="billing/x/2026-W49",
                        check="x", severity="critical", summary="x is critical",
                        source="test", occurred_at=NOW)


def test_a_paused_leader_cannot_claim_or_deliver_an_outbox_row(
        engines: tuple[Engine, Engine]) -> None:
    old_engine, new_engine = engines
    old, new = _takeover(old_engine, new_engine)
    with old_engine.begin() as conn:  # written while it led (epoch 1)
        outbox.enqueue(conn, _notification(), ["pagerduty"], NOW)
    with old_engine.connect() as conn:  # a standby's fenced engine reads nothing either
        (row,) = outbox.pending(conn)
    _lapse(new_engine, new)
    assert old.is_leader() is True  # it has not noticed
    with pytest.raises(lease.NotLeader), old_engine.begin() as conn:
        outbox.claim(conn, row, NOW + timedelta(minutes=1), "old")
    with pytest.raises(lease.NotLeader), old_engine.begin() as conn:
        outbox.delivered(conn, row.id, NOW)
    with new_engine.connect() as conn:
        stored = conn.execute(select(outbox_table.c.attempts, outbox_table.c.claimed_by,
                                     outbox_table.c.delivered_at)).one()
    assert tuple(stored) == (0, None, None)
    with new_engine.begin() as conn:  # the new leader's claim goes through
        assert outbox.claim(conn, row, NOW + timedelta(minutes=1), "new") is True


def test_a_paused_leader_cannot_move_a_stripe_cursor(
        engines: tuple[Engine, Engine]) -> None:
    old_engine, new_engine = engines
    _old, new = _takeover(old_engine, new_engine)
    before = CursorUpdate(Cursor("evt_1", 1_000, 900), seen=[("evt_1", 1_000)])
    SqlCursorStore(old_engine).apply("acct", before)  # while it led
    _lapse(new_engine, new)
    late = CursorUpdate(Cursor("evt_2", 2_000, 900), seen=[("evt_2", 2_000)])
    with pytest.raises(lease.NotLeader):
        SqlCursorStore(old_engine).apply("acct", late)
    assert SqlCursorStore(new_engine).load("acct") == Cursor("evt_1", 1_000, 900)
    SqlCursorStore(new_engine).apply("acct", late)
    assert SqlCursorStore(new_engine).load("acct") == Cursor("evt_2", 2_000, 900)
