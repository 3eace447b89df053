"""The read-only SQL sandbox (issue 9): hostile check queries on both engines.

Every case of tests/fixtures/hostile/sql.toml is refused at load with a
message naming the file, the check and the key; and, sent to the database
with validation bypassed (the path a check's query takes: the billing engine
and the check's deadline), it writes nothing, leaves no session state, no
lock and no running statement behind (row counts, tables, sequences,
pg_locks and pg_stat_activity are read after).
"""

from __future__ import annotations

import contextlib
import os
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import Check, CheckContext
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.errors import ConfigError
from billing_monitor.commands.demo_data import populate
from billing_monitor.settings.load import parse_settings
from tests.helpers import NOW, demo_db, settings_for
from tests.peers.postgres import PostgresServer

CASES: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "fixtures" / "hostile" / "sql.toml").read_text())["case"]
TABLES = ("orders", "billing_records", "charge_attempts")
SECRET = "hunter2-sandbox"


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


def _on(engine: str) -> list[dict[str, Any]]:
    return [c for c in CASES if engine in c.get("engines", ["postgresql", "sqlite"])]


def bypass(engine: Engine, query: str, seconds: float = 3.0) -> None:
    """What a check does with its query, without the validation at load."""
    with engine.connect() as conn, database_deadline(conn, time.monotonic() + seconds):
        conn.execute(text(query)).fetchall()
        conn.rollback()


def collect_quietly(check: Check, ctx: CheckContext) -> None:
    """In a thread, as the runner runs a check: the error is expected."""
    with contextlib.suppress(Exception):
        check.collect(ctx)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len(set(_ids(CASES))) == len(CASES)


@pytest.mark.parametrize("key", ["query", "sample_query"])
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_refused_at_load_naming_file_check_and_key(case: dict[str, Any], key: str) -> None:
    table = {"type": "sql", "query": "SELECT COUNT(*) FROM orders", key: case["query"]}
    with pytest.raises(ConfigError) as err:
        parse_settings({"checks": {"hostile": table}}, "/etc/bm.toml", {})
    [problem] = err.value.problems
    assert problem.startswith(f"/etc/bm.toml: checks.hostile.{key}: ")
    assert case["refused"] in problem


# --- PostgreSQL ------------------------------------------------------------


def _fresh(server: PostgresServer) -> str:
    url = server.fresh_database("sandbox")
    writer = open_engine(url, read_only=False)
    populate(writer, settings_for({"checks": {"unbilled_orders": {}}}), NOW)
    writer.dispose()
    return url


_PRISTINE: dict[str, Any] = {}


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The sandbox database as populated: built again only when a case
    changed it (which is a failure), so that each case is judged alone."""
    if "url" in _PRISTINE:
        admin = create_engine(_PRISTINE["url"], isolation_level="AUTOCOMMIT")
        try:
            changed = pg_state(admin) != _PRISTINE["state"]
        except Exception:  # a table dropped
            changed = True
        finally:
            admin.dispose()
        if not changed:
            return str(_PRISTINE["url"])
    url = _fresh(pg_server)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    _PRISTINE.update(url=url, state=pg_state(admin))
    admin.dispose()
    return url


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = open_engine(pg_url)
    yield engine
    engine.dispose()


def pg_state(admin: Engine) -> dict[str, Any]:
    with admin.connect() as conn:
        return {
            "rows": {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in TABLES},
            "tables": sorted(conn.execute(text(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE nspname = 'public'")).scalars()),
            "sequence": conn.execute(text("SELECT last_value FROM orders_id_seq")).scalar(),
            "columns": conn.execute(text(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'orders'"
            )).scalar(),
        }


def monitor_backends(admin: Engine, *, wait: float = 3.0) -> list[tuple[str, str]]:
    """The monitor's backends still busy after `wait` seconds (none, when every
    session ended or rests in the pool: idle after its reset, DISCARD ALL);
    also any advisory lock left held."""
    deadline = time.monotonic() + wait
    while True:
        with admin.connect() as conn:
            left = [(str(s), str(q)) for s, q in conn.execute(text(
                "SELECT state, query FROM pg_stat_activity "
                "WHERE application_name = 'billing-monitor' AND pid <> pg_backend_pid() "
                "AND (state <> 'idle' OR query <> 'DISCARD ALL')"))]
            left += [("advisory lock", str(n)) for n in conn.execute(text(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory'")).scalars()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


SESSION_STATE = (
    "SELECT pg_backend_pid(),"
    " (SELECT COUNT(*) FROM pg_prepared_statements),"
    " (SELECT COUNT(*) FROM pg_cursors),"
    " (SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),"
    " (SELECT COUNT(*) FROM pg_listening_channels()),"
    " (SELECT COUNT(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),"
    " current_user, current_setting('statement_timeout'),"
    " current_setting('default_transaction_read_only'),"
    " (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings)"
)


def session_state(engine: Engine) -> tuple[Any, ...]:
    """What one check run could leave in its session for the next, read from
    the session the engine hands the next check (its pid first). Sent
    unprepared, so that it is not itself a prepared statement."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        row = raw.execute(SESSION_STATE, prepare=False).fetchone()
        conn.rollback()
    assert row is not None
    return tuple(row)


@pytest.mark.postgres
@pytest.mark.parametrize("case", _on("postgresql"), ids=_ids(_on("postgresql")))
def test_postgresql_writes_nothing_even_without_validation(
    case: dict[str, Any], pg_engine: Engine, admin: Engine
) -> None:
    before = pg_state(admin)
    clean = session_state(pg_engine)  # a new session's
    error: Exception | None = None
    try:
        bypass(pg_engine, case["query"])
    except Exception as exc:  # refused by the server: what we want
        error = exc
    if "server" in case:
        assert error is not None and case["server"] in str(error)
    assert pg_state(admin) == before
    assert monitor_backends(admin) == []
    # The next check's session (reused, or new after a failure) is as clean.
    assert session_state(pg_engine)[1:] == clean[1:]
    with pg_engine.connect() as conn:  # the next session is as read-only as the first
        assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
        assert conn.execute(text("SHOW statement_timeout")).scalar() != "0"


@pytest.mark.postgres
def test_each_postgresql_layer_holds_alone(pg_url: str, admin: Engine) -> None:
    import psycopg

    from billing_monitor.checking.billing_db import session_options

    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
    before = pg_state(admin)
    # The extended protocol alone (a read-write session): one statement only.
    with psycopg.connect(conninfo, prepare_threshold=0) as conn, pytest.raises(
            psycopg.errors.SyntaxError, match="multiple commands"):
        conn.execute("COMMIT; DELETE FROM charge_attempts")
    # The session's options alone (the simple protocol runs both statements):
    # the COMMIT ends the transaction, the next one is read-only again.
    with psycopg.connect(conninfo, options=session_options(5)) as conn, pytest.raises(
            psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("COMMIT; DELETE FROM charge_attempts")
    assert pg_state(admin) == before


@pytest.mark.postgres
def test_an_escape_from_the_timeout_is_cancelled_at_the_deadline(
    pg_engine: Engine, admin: Engine
) -> None:
    # The trick: a COMMIT ends the transaction and its SET LOCAL
    # timeout, then SET statement_timeout = 0. Refused at the server now; and
    # a plain sleep is cut off at the deadline and cancelled there too.
    # The session's statement_timeout and the deadline's cancel fall due at the
    # same moment: either may stop the sleep ("canceling statement due to
    # statement timeout" or "... due to user request"); both are the deadline
    # holding. The escape itself must be refused by the server before it runs.
    for query, refusal in (
        ("COMMIT; SET statement_timeout = 0; SELECT pg_sleep(60)", r"multiple commands"),
        ("SELECT pg_sleep(60)", r"statement timeout|canceling statement due to user request"),
    ):
        started = time.monotonic()
        with pytest.raises(Exception, match=refusal):
            bypass(pg_engine, query, seconds=0.5)
        assert time.monotonic() - started < 5
        assert monitor_backends(admin, wait=1.0) == []


@pytest.mark.postgres
def test_a_statement_started_late_does_not_outlive_the_deadline(
    pg_engine: Engine, admin: Engine
) -> None:
    import threading

    from billing_monitor.checks.sql import SqlCheck
    from tests.test_sql_checks import _ctx

    # The count takes 1 s of a 1.5 s deadline, then the sample query would
    # sleep: its own statement_timeout (1.5 s, set at the start) would let it
    # run until 2.5 s; the deadline's cancel stops it at 1.5 s.
    check = SqlCheck("late", pg_engine, "SELECT 1 FROM pg_sleep(1)",
                     sample_query="SELECT pg_sleep(10)::text")
    ctx = _ctx()
    ctx = type(ctx)(ctx.period, ctx.now, time.monotonic() + 1.5, ctx.sample_limit)
    worker = threading.Thread(target=collect_quietly, args=(check, ctx), daemon=True)
    started = time.monotonic()
    worker.start()
    time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
    with admin.connect() as conn:
        running = conn.execute(text(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()")).scalar()
    assert running == 0
    worker.join(5)
    assert monitor_backends(admin) == []


@pytest.mark.postgres
def test_a_query_still_running_when_the_monitor_stops_is_cancelled(
    pg_url: str, admin: Engine
) -> None:
    import threading

    from billing_monitor.assembly import build_checks
    from billing_monitor.checking.services import AppServices
    from tests.test_sql_checks import _ctx

    settings = settings_for({"database": {"url": pg_url}, "checks": {"slow": {
        "type": "sql", "query": "SELECT COUNT(*) FROM pg_sleep(60)", "timeout_seconds": 120}}})
    services = AppServices(settings, os.environ)
    check = build_checks(settings, services)["slow"].check
    ctx = _ctx()
    ctx = type(ctx)(ctx.period, ctx.now, time.monotonic() + 120, ctx.sample_limit)
    worker = threading.Thread(target=collect_quietly, args=(check, ctx), daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not [s for s, q in monitor_backends(admin, wait=0) if s == "active"]:
        assert time.monotonic() < deadline, "the check's query never started"
        time.sleep(0.05)
    services.close()  # what the daemon does with each wiring when it stops
    assert monitor_backends(admin) == []
    worker.join(5)


# --- SQLite ----------------------------------------------------------------


@pytest.fixture
def sqlite_files(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = demo_db(tmp_path)
    engine = open_engine(f"sqlite:///{path}")
    yield engine, tmp_path
    engine.dispose()


def sqlite_state(directory: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(directory / "billing.db")
    try:
        return {
            "rows": {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES},
            "schema": conn.execute("SELECT group_concat(sql) FROM sqlite_master").fetchone(),
            "files": sorted(p.name for p in directory.iterdir()),
        }
    finally:
        conn.close()


@pytest.mark.parametrize("case", _on("sqlite"), ids=_ids(_on("sqlite")))
def test_sqlite_writes_nothing_even_without_validation(
    case: dict[str, Any], sqlite_files: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, directory = sqlite_files
    monkeypatch.chdir(directory)  # where ATTACH 'evil.db' would create its file
    before = sqlite_state(directory)
    with contextlib.suppress(Exception):  # refused: what we want
        bypass(engine, case["query"])
    assert sqlite_state(directory) == before


def test_sqlite_authorizer_holds_alone_on_a_writable_connection(tmp_path: Path) -> None:
    import sqlite3

    from billing_monitor.checking.billing_db import _sandbox_sqlite

    path = demo_db(tmp_path)
    conn = sqlite3.connect(path)  # read-write: only the authorizer stands in the way
    _sandbox_sqlite(conn)
    for statement in ("DELETE FROM charge_attempts", "ATTACH 'evil.db' AS evil",
                      "PRAGMA query_only = OFF", "CREATE TEMP TABLE t (a)"):
        with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"):
            conn.execute(statement)
    assert conn.execute("SELECT COUNT(*) FROM charge_attempts").fetchone()[0] > 0
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.db"]


def test_no_secret_in_a_refusal(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://monitor:{SECRET}@127.0.0.1:1/billing"
    with pytest.raises(ConfigError) as err:
        parse_settings({"database": {"url": url}, "checks": {"x": {
            "type": "sql", "query": f"COMMIT; SELECT '{SECRET}'"}}}, "/etc/bm.toml", {})
    assert SECRET not in "\n".join(err.value.problems)
