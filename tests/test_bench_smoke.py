"""The benchmark's machinery at a tiny size: the databases it builds hold
every kind of problem, and the product's checks agree with the naive
reference on all three counts (no timing here; timing lives in bench/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bench import build, measure
from bench.implementations import CHECKS, article, context, fast, naive
from bench.report import markdown, summarise
from tests.peers.postgres import PostgresServer

ORDERS = 2_000


def _agree(url: str) -> None:
    got, expected = fast(url), naive(url)
    assert got == expected
    assert set(got) == set(CHECKS)
    assert all(v > 0 for v in got.values()), got  # each check has something to find


def test_sqlite_fast_and_naive_agree(tmp_path: Path) -> None:
    path = build.build_sqlite(tmp_path, ORDERS)
    _agree(f"sqlite:///{path}")
    assert build.build_sqlite(tmp_path, ORDERS) == path  # cached, not rebuilt


@pytest.mark.postgres
def test_postgresql_fast_and_naive_agree(pg_server: PostgresServer) -> None:
    url = build.build_postgres(pg_server.url(), ORDERS)
    _agree(url)
    assert build.build_postgres(pg_server.url(), ORDERS) == url


def test_article_reference_agrees_and_gets_its_own_speed_up_column(tmp_path: Path) -> None:
    url = f"sqlite:///{build.build_sqlite(tmp_path, ORDERS)}"
    counts = article(url)
    assert counts == naive(url)
    run = {"counts": counts, "seconds": 2.0, "rss_before_mib": 1.0, "peak_rss_mib": 2.0}
    rows = [summarise("sqlite", ORDERS, impl, [{**run, "seconds": s}])
            for impl, s in (("fast", 0.5), ("naive", 4.0), ("article", 2.0))]
    assert f"| sqlite | {ORDERS:,} | fast | 0.500 | 0.500 | 1 | 2.0 | 1.0 | 8.0x | 4.0x |" \
        in markdown(rows)


def test_measure_child_reports_counts_and_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{build.build_sqlite(tmp_path, ORDERS)}"
    assert measure.main(["naive", url]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["counts"] == fast(url)
    assert run["peak_rss_mib"] >= run["rss_before_mib"] > 0
    row = summarise("sqlite", ORDERS, "naive", [run, {**run, "seconds": 1.0}])
    assert row.runs == 2 and row.min_s <= row.median_s
    assert f"| sqlite | {ORDERS:,} | naive |" in markdown([row])


@pytest.mark.postgres
def test_cli_writes_table_json_and_plans(
    pg_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import sql_checks

    argv = ["--sizes", str(ORDERS), "--engines", "sqlite,postgresql", "--runs", "1",
            "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path),
            "--postgres-url", pg_server.url()]
    assert sql_checks.main(argv) == 0
    table = capsys.readouterr().out
    for engine in ("sqlite", "postgresql"):
        for impl in ("fast", "naive"):
            assert f"| {engine} | {ORDERS:,} | {impl} |" in table
        plans = (tmp_path / f"plans-{engine}-{ORDERS}.txt").read_text()
        assert "-- missing_billing_records (count)" in plans
        assert "ix_orders_period" in plans  # the checks use the schema's index
    (saved,) = tmp_path.glob("sql_checks-*.json")
    rows = json.loads(saved.read_text())["rows"]
    assert len(rows) == 4 and len({json.dumps(r["counts"]) for r in rows}) == 1


@pytest.mark.postgres
def test_postgresql_checks_run_read_only_without_jit(pg_server: PostgresServer) -> None:
    # The benchmark's PostgreSQL figures assume a check never pays for a JIT
    # compile; the settings belong to the session from connect (issue 9).
    from billing_monitor.checking.billing_db import open_engine
    from billing_monitor.checks.sql import SqlCheck

    engine = open_engine(pg_server.url())
    try:
        check = SqlCheck("settings", engine, (
            "SELECT CASE WHEN current_setting('jit') = 'off' AND "
            "current_setting('transaction_read_only') = 'on' THEN 1 ELSE 0 END"))
        [m] = check.collect(context())
        assert m.value == 1
        with engine.connect() as conn:  # a new session: read-only, no JIT, from the start
            assert conn.execute(text("SHOW jit")).scalar() == "off"
            assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_bare_connection_of_monitor_vs_bare_runs_the_checks_own_statements(
    pg_server: PostgresServer,
) -> None:
    import psycopg

    from bench.monitor_vs_bare import bare_statements, build_checks, new_session_engine
    from billing_monitor.checking.billing_db import open_engine, session_options
    from billing_monitor.checks.sql import parameters

    url = build.build_postgres(pg_server.url(), ORDERS)
    ctx = context()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                         options=session_options(30), prepare_threshold=0) as bare:
        bare_rows = [bare.execute(sql, parameters(ctx)).fetchall() for sql in bare_statements()]
    assert all(rows for rows in bare_rows)  # each check has something to find
    for engine in (open_engine(url), new_session_engine(url)):
        try:
            for check, rows in zip(build_checks(engine), bare_rows, strict=True):
                [m] = check.collect(ctx)
                assert m.value == rows[0][1]
                assert m.samples == tuple(str(r[0]) for r in rows[:ctx.sample_limit])
        finally:
            engine.dispose()
