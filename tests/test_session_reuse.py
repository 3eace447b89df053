"""A PostgreSQL session reused from one check run to the next (issue 10)
keeps issue 9's guarantees: what one run does to its session is gone before
the next run gets it, and a session whose run failed, timed out or was
cancelled is closed, never reused (monitor/checking/session_reuse.py).

The queries here bypass validation at load (each is refused there): they are
what a check could do to its session if validation missed something.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from billing_monitor.checking import session_reuse
from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.sql import SqlCheck
from tests.peers.postgres import PostgresServer
from tests.test_sql_checks import _ctx
from tests.test_sql_sandbox import bypass, monitor_backends, session_state

pytestmark = pytest.mark.postgres

# What survives a ROLLBACK unless the session is reset (or is undone by the
# rollback itself): each must be gone for the next check.
SESSION_TRICKS = {
    "prepared-statement": "PREPARE evil AS SELECT 1",
    "with-hold-cursor": "DECLARE evil CURSOR WITH HOLD FOR SELECT 1",
    "advisory-session-lock": "SELECT pg_advisory_lock(42)",
    "shared-advisory-lock": "SELECT pg_advisory_lock_shared(43)",
    "timeout-off": "SELECT set_config('statement_timeout', '0', false)",
    "read-write": "SELECT set_config('default_transaction_read_only', 'off', false)",
    "search-path": "SELECT set_config('search_path', 'pg_temp', false)",
    "work-mem": "SELECT set_config('work_mem', '1GB', false)",
    "listen": "LISTEN evil",
    "commit-then-lock": "COMMIT",
}


@pytest.fixture(scope="module")
def url(pg_server: PostgresServer) -> str:
    return pg_server.fresh_database("reuse")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    e = open_engine(url, timeout_s=30)
    yield e
    e.dispose()


@pytest.fixture
def admin(url: str) -> Iterator[Engine]:
    e = create_engine(url, isolation_level="AUTOCOMMIT")
    yield e
    e.dispose()


def run(engine: Engine, query: str, seconds: float = 5.0) -> None:
    """What a check does with its query (tests/test_sql_sandbox.py `bypass`),
    for statements that return no rows as well."""
    with engine.connect() as conn, database_deadline(conn, time.monotonic() + seconds):
        result = conn.execute(text(query))
        if result.returns_rows:
            result.all()
        conn.rollback()


def pid_of(engine: Engine) -> int:
    return int(session_state(engine)[0])


def test_a_clean_run_hands_its_session_to_the_next(engine: Engine) -> None:
    # Without this the other tests would prove nothing about reuse.
    first = pid_of(engine)
    check = SqlCheck("n", engine, "SELECT COUNT(*) FROM generate_series(1, 10)")
    [m] = check.collect(_ctx())
    assert m.value == 10
    assert pid_of(engine) == first


@pytest.mark.parametrize("query", SESSION_TRICKS.values(), ids=SESSION_TRICKS.keys())
def test_nothing_a_run_does_to_its_session_reaches_the_next(
    query: str, engine: Engine, admin: Engine
) -> None:
    clean = session_state(engine)  # a new session's
    run(engine, query)  # succeeds: the session is reused
    after = session_state(engine)
    assert after[0] == clean[0], "the session was not reused: nothing tested"
    assert after[1:] == clean[1:]
    assert monitor_backends(admin, wait=0) == []


def test_a_lock_taken_after_a_commit_is_released_too(engine: Engine, admin: Engine) -> None:
    # COMMIT ends the check's transaction; the lock is then a session lock
    # taken outside any transaction the rollback could undo.
    clean = session_state(engine)
    with engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("SELECT pg_advisory_lock(44)")).all()
    assert session_state(engine) == clean
    with admin.connect() as conn:
        assert conn.execute(text(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar() == 0


def _gone(admin: Engine, pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"),
                                {"p": pid}).all():
                return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("query, seconds, refusal", [
    ("SELECT 1 / 0", 5.0, "division by zero"),
    # cut off by the deadline's cancel, or by the transaction's statement_timeout
    ("SELECT pg_sleep(30)", 0.5, "statement timeout|canceling statement"),
], ids=["failed", "cancelled-at-deadline"])
def test_a_session_whose_run_failed_is_closed_not_reused(
    query: str, seconds: float, refusal: str, engine: Engine, admin: Engine
) -> None:
    first = pid_of(engine)
    with pytest.raises(Exception, match=refusal):
        bypass(engine, query, seconds=seconds)
    assert _gone(admin, first)
    assert pid_of(engine) != first


def test_a_session_whose_cancel_was_sent_is_closed_even_if_the_query_finished(
    engine: Engine, admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cancel may land after the statement it was meant for: the session
    # must not carry it into the next check's statement.
    import threading

    from billing_monitor.checks import deadline as dl

    sent = threading.Event()
    monkeypatch.setattr(dl, "cancel_request", lambda raw: sent.set)
    first = pid_of(engine)
    with engine.connect() as conn, database_deadline(conn, time.monotonic() + 0.2):
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert sent.wait(30)  # the deadline passes as the check ends
    assert _gone(admin, first)
    assert pid_of(engine) != first


def test_a_pooled_session_the_server_dropped_is_replaced_at_checkout(
    engine: Engine, admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_reuse, "IDLE_PING_S", 0.0)  # every checkout tries it
    first = pid_of(engine)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
    assert _gone(admin, first)
    check = SqlCheck("n", engine, "SELECT 7")
    [m] = check.collect(_ctx())
    assert m.value == 7
    assert pid_of(engine) != first


def test_sessions_stay_read_only_and_time_limited(engine: Engine) -> None:
    run(engine, "SELECT set_config('statement_timeout', '0', false)")
    with engine.connect() as conn:
        settings: dict[str, Any] = {
            k: conn.execute(text(f"SHOW {k}")).scalar()
            for k in ("default_transaction_read_only", "statement_timeout", "transaction_read_only")
        }
    assert settings == {"default_transaction_read_only": "on", "statement_timeout": "30s",
                        "transaction_read_only": "on"}


def test_a_connection_used_for_several_runs_goes_on_after_a_failed_one(engine: Engine) -> None:
    # `validate --connect` plans every query on one Connection: a refused one
    # closes its session, the next runs on a new one.
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.rollback()
        with pytest.raises(Exception, match="division by zero"), \
                database_deadline(conn, time.monotonic() + 5):
            conn.execute(text("SELECT 1 / 0")).all()
        conn.rollback()
        with database_deadline(conn, time.monotonic() + 5):
            assert conn.execute(text("SELECT 2")).scalar() == 2
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != first
        conn.rollback()
