"""The lease on a real PostgreSQL, directly and through a real PgBouncer in
transaction mode: one holder at a time, the epoch raised at every change of
holder, lapsed leases taken over, and a fenced write of a leader that lost the
lease refused. Expiry is made by moving expires_at into the past on the
database's clock, never by waiting."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, insert, select, text

from billing_monitor.alerting import lease
from billing_monitor.alerting.leadership import Leadership, SoleLeader
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import schema_version, silences
from tests.peers import pgbouncer
from tests.peers.postgres import PostgresServer


@pytest.fixture(params=["postgres", "pgbouncer"])
def store_url(request: pytest.FixtureRequest, pg_server: PostgresServer) -> Iterator[str]:
    name = f"lease_{request.param}_{next(_numbers)}"
    pg_server.fresh_database(name)
    if request.param == "postgres":
        yield pg_server.url(name)
        return
    if not pgbouncer.available():
        pytest.skip("pgbouncer not installed")
    with pgbouncer.pgbouncer(pg_server) as bouncer:
        yield bouncer.url(name)


_numbers = itertools.count()
_opened: list[Engine] = []


@pytest.fixture(autouse=True)
def _dispose() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().dispose()


def _engine(url: str) -> Engine:
    engine = open_state(url)
    _opened.append(engine)
    return engine


def _expire(engine: Engine) -> None:
    """The lease lapses now, on the database's clock (as if its holder stopped)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE leader_lease SET expires_at = clock_timestamp() "
                          "- interval '1 second'"))


def _race(url: str, holders: list[str]) -> dict[str, lease.Term | None]:
    """All `holders` call acquire at the same instant, each on its own engine."""
    engines = {h: _engine(url) for h in holders}
    barrier = threading.Barrier(len(holders))
    got: dict[str, lease.Term | None] = {}

    def contend(holder: str) -> None:
        with engines[holder].connect() as conn:
            conn.execute(text("SELECT 1"))  # connected before the start line
            conn.commit()
            barrier.wait()
            with conn.begin():
                got[holder] = lease.acquire(conn, holder, 30)

    threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines.values():
        e.dispose()
    return got


def test_contenders_at_the_same_instant_get_one_leader(store_url: str) -> None:
    holders = ["a", "b", "c"]
    for round_ in range(1, 6):
        got = _race(store_url, holders)
        winners = [h for h, term in got.items() if term is not None]
        assert len(got) == 3 and len(winners) == 1, got
        term = got[winners[0]]
        assert term is not None and term.holder == winners[0] and term.epoch == round_
        engine = _engine(store_url)
        _expire(engine)  # the next round races for a lapsed lease
        engine.dispose()


def test_renewal_keeps_the_epoch_and_others_wait(store_url: str) -> None:
    engine = _engine(store_url)
    with engine.begin() as conn:
        first = lease.acquire(conn, "a", 30)
    with engine.begin() as conn:
        again = lease.acquire(conn, "a", 30)
        other = lease.acquire(conn, "b", 30)
    assert first is not None and again is not None
    assert (first.epoch, again.epoch) == (1, 1) and again.expires_at >= first.expires_at
    assert other is None
    with engine.connect() as conn:
        now = conn.execute(select(func.now())).scalar_one()
        assert lease.current(conn) == (again, True)
    assert again.expires_at > now


def test_a_lapsed_lease_goes_to_the_next_with_a_new_epoch(store_url: str) -> None:
    engine = _engine(store_url)
    with engine.begin() as conn:
        lease.acquire(conn, "a", 30)
    _expire(engine)
    with engine.begin() as conn:
        assert lease.current(conn) is not None and lease.current(conn)[1] is False  # type: ignore[index]
        taken = lease.acquire(conn, "b", 30)
        late = lease.acquire(conn, "a", 30)
    assert taken is not None and (taken.holder, taken.epoch) == ("b", 2)
    assert late is None


def test_release_hands_over_at_once(store_url: str) -> None:
    engine = _engine(store_url)
    with engine.begin() as conn:
        lease.acquire(conn, "a", 30)
        assert lease.release(conn, "a") is True
        assert lease.release(conn, "a") is False
        taken = lease.acquire(conn, "b", 30)
    assert taken is not None and taken.epoch == 2


class FrozenClock:
    """A monotonic clock that stands still: the paused process's view."""

    def __call__(self) -> float:
        return 100.0


def _silence_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(silences)).scalar_one())


def _write_silence(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(silences).values(
            check_name="x", starts_at=func.now(), until=func.now(), reason="r",
            created_by="t"))


def test_a_paused_leader_cannot_write_after_a_takeover(store_url: str) -> None:
    old_engine, new_engine, reader = (_engine(store_url) for _ in range(3))
    changes: list[tuple[bool, int]] = []
    old = Leadership(old_engine, 30, holder="old", monotonic=FrozenClock(),
                     on_change=lambda leader, epoch: changes.append((leader, epoch)))
    new = Leadership(new_engine, 30, holder="new")
    old.install_fence(old_engine)
    new.install_fence(new_engine)
    assert old.tick() is True and new.tick() is False
    _write_silence(old_engine)  # the leader writes, fenced on epoch 1
    assert _silence_rows(reader) == 1
    _expire(reader)  # the old leader is paused past its lease ...
    assert new.tick() is True and new.epoch == 2
    # ... and wakes up still believing (its clock did not move) it leads
    assert old.is_leader() is True
    with pytest.raises(lease.NotLeader):
        _write_silence(old_engine)
    _write_silence(new_engine)
    assert _silence_rows(reader) == 2
    assert old.tick() is False and old.is_leader() is False
    assert changes == [(True, 1), (False, 1)]


def test_a_standby_writes_nothing(store_url: str) -> None:
    leader, standby = _engine(store_url), _engine(store_url)
    a = Leadership(leader, 30, holder="a")
    b = Leadership(standby, 30, holder="b")
    b.install_fence(standby)
    assert a.tick() is True and b.tick() is False
    with pytest.raises(lease.NotLeader):
        _write_silence(standby)
    a.release()
    assert b.tick() is True and b.epoch == 2
    _write_silence(standby)
    assert _silence_rows(leader) == 1


def test_the_lease_table_is_a_migration(store_url: str) -> None:
    engine = _engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar_one() >= 7


def test_sqlite_is_always_the_leader() -> None:
    sole = SoleLeader()
    assert sole.tick() and sole.is_leader() and sole.describe()["role"] == "leader"


def test_the_daemons_fence_covers_every_engine_on_the_store_and_no_other(
        store_url: str, pg_server: PostgresServer) -> None:
    """install_fence() without an engine: every engine of the process opened on
    the same store (a reload's, the Stripe cursors') is fenced; another
    database is not."""
    mine, later, leader = _engine(store_url), _engine(store_url), _engine(store_url)
    other = _engine(pg_server.fresh_database("lease_elsewhere"))
    a = Leadership(leader, 30, holder="a")
    standby = Leadership(mine, 30, holder="b")
    assert a.tick() is True and standby.tick() is False
    standby.install_fence()
    try:
        for engine in (mine, later):
            with pytest.raises(lease.NotLeader):
                _write_silence(engine)
        _write_silence(other)
        with pytest.raises(lease.NotLeader):  # reads too: a standby touches nothing
            _silence_rows(leader)
    finally:
        standby.remove_fence()
    assert (_silence_rows(other), _silence_rows(leader)) == (1, 0)
    _write_silence(later)  # removed: nothing fenced any more
    assert _silence_rows(leader) == 1


def test_status_names_the_leader(store_url: str) -> None:
    from datetime import UTC, datetime

    from billing_monitor.alerting.status import read_status, status_text

    engine = _engine(store_url)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert read_status(engine, now).leader.startswith("none yet")
    with engine.begin() as conn:
        lease.acquire(conn, "host-a:1:x", 30)
    report = read_status(engine, now)
    assert report.leader.startswith("host-a:1:x, epoch 1, lease until ")
    assert report.leader.endswith("(held)")
    _expire(engine)
    assert "LAPSED" in status_text(read_status(engine, now)).splitlines()[-1]


def test_a_leader_paused_inside_a_transaction_does_not_block_the_takeover(
        store_url: str) -> None:
    """The guard's share lock would hold a takeover back for as long as a
    paused leader sleeps; the server ends that session after one lease length
    idle in the transaction, the standby takes over, the late commit fails."""
    from sqlalchemy.exc import DBAPIError

    old_engine, new_engine = _engine(store_url), _engine(store_url)
    old = Leadership(old_engine, 1, holder="old")
    new = Leadership(new_engine, 5, holder="new")
    old.install_fence(old_engine)
    assert old.tick() is True
    conn = old_engine.connect()
    tx = conn.begin()  # fenced: share-locks the lease row ...
    conn.execute(insert(silences).values(check_name="x", starts_at=func.now(),
                                         until=func.now(), reason="r", created_by="t"))
    # ... and the process stops here (SIGSTOP): the standby keeps trying.
    for _ in range(20):  # each try waits at most its lock_timeout: a bound, not a timing
        if new.tick():
            break
    assert new.is_leader() and new.epoch == 2
    with pytest.raises(DBAPIError):
        tx.commit()
    conn.close()
    assert _silence_rows(new_engine) == 0
