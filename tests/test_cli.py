"""`billing-monitor` as a user runs it: a subprocess, real peers, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from billing_monitor.checks.period import current_period
from tests import clock
from tests.helpers import cli, demo_db, live_demo_db
from tests.peers.postgres import PostgresServer
from tests.peers.statsd import UdpListener

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

CONFIG = """
[monitor]
service = "billing"
env = "test"
[statsd]
namespace = "billing."
[checks.unbilled_orders]
[checks.missing_billing_records]
[checks.failed_charges]
"""


def _config(tmp_path: Path, body: str, db: str) -> Path:
    path = tmp_path / "bm.toml"
    path.write_text(f'[database]\nurl = "{db}"\n{body}')
    return path


def _agent(statsd: UdpListener) -> dict[str, str]:
    return {"DD_AGENT_HOST": "127.0.0.1", "DD_DOGSTATSD_PORT": str(statsd.port)}


AT = "2026-11-19T05:30:00+00:00"  # the demo week of tests.helpers.demo_db


def test_check_reports_this_week_and_sends_it(tmp_path: Path, statsd: UdpListener) -> None:
    cfg = _config(tmp_path, CONFIG, f"sqlite:///{live_demo_db(tmp_path)}")
    before = current_period("iso_week", "UTC", clock.now()).label
    r = cli("--config", str(cfg), "check", "--json", env=_agent(statsd))
    after = current_period("iso_week", "UTC", clock.now()).label
    assert r.returncode == 2, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "CRIT"
    # The week the process read: this one, or the next if it started after Monday 00:00.
    week = doc["results"][0]["period"]
    assert week in {before, after}
    assert [(x["check"], x["status"], x["period"], x["measurements"][0]["value"])
            for x in doc["results"]] == [
        ("unbilled_orders", "CRIT", week, 14),
        ("missing_billing_records", "CRIT", week, 1),
        ("failed_charges", "WARN", week, 3),
    ]
    sent = statsd.receive(12)
    assert "billing.unbilled_orders:14|g|#env:test,service:billing,check:unbilled_orders" in sent


def test_at_only_prints_another_period(tmp_path: Path, statsd: UdpListener) -> None:
    cfg = _config(tmp_path, CONFIG, f"sqlite:///{demo_db(tmp_path)}")
    r = cli("--config", str(cfg), "check", "--json", "--at", AT, env=_agent(statsd))
    assert r.returncode == 2, r.stderr
    assert [(x["period"], x["measurements"][0]["value"]) for x in json.loads(r.stdout)[
        "results"]] == [("2026-W47", 14), ("2026-W47", 1), ("2026-W47", 3)]
    # Nothing sent: last week's numbers are not today's gauges ...
    assert statsd.drain() == []
    # ... and no alert state was written: a look at an old period changes nothing.
    assert not (tmp_path / "billing-monitor-state.db").exists()


def test_check_selected_names_and_another_week(tmp_path: Path, statsd: UdpListener) -> None:
    cfg = _config(tmp_path, CONFIG, f"sqlite:///{demo_db(tmp_path)}")
    r = cli("--config", str(cfg), "check", "failed_charges", "--json",
            "--at", "2026-11-12T00:00Z")
    assert r.returncode == 0, r.stderr
    [res] = json.loads(r.stdout)["results"]
    assert (res["check"], res["period"], res["measurements"][0]["value"]) == (
        "failed_charges", "2026-W46", 0)


def test_bad_at_time_is_a_usage_error() -> None:
    r = cli("check", "--at", "last thursday")
    assert r.returncode == 64 and "not an ISO 8601 time: 'last thursday'" in r.stderr


def test_check_exit_codes_follow_thresholds(tmp_path: Path, statsd: UdpListener) -> None:
    db = f"sqlite:///{demo_db(tmp_path)}"

    def run(threshold_table: str) -> int:
        body = (f"[statsd]\nenabled = false\n[checks.n]\ntype = \"sql\"\n"
                f"query = \"SELECT 5\"\n[checks.n.thresholds]\n{threshold_table}")
        return cli("--config", str(_config(tmp_path, body, db)), "check").returncode

    assert run("critical = 10") == 0
    assert run("warning = 4\ncritical = 10") == 1
    assert run("warning = 1\ncritical = 4") == 2
    assert run("critical = 4\ncomparator = \"<\"") == 0


def test_check_that_cannot_run_exits_3_and_others_still_run(tmp_path: Path) -> None:
    body = ("[statsd]\nenabled = false\n[checks.broken]\ntype = \"sql\"\n"
            "query = \"SELECT COUNT(*) FROM no_such_table\"\n"
            "[checks.fine]\ntype = \"sql\"\nquery = \"SELECT 1\"\n")
    r = cli("--config", str(_config(tmp_path, body, f"sqlite:///{demo_db(tmp_path)}")),
            "check", "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    by = {x["check"]: x for x in doc["results"]}
    assert by["broken"]["status"] == "UNKNOWN" and "no_such_table" in by["broken"]["error"]
    assert by["fine"]["status"] == "OK" and by["fine"]["measurements"][0]["value"] == 1
    assert "Traceback" not in r.stderr


def test_missing_sqlite_file_is_unknown_not_a_new_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    body = "[statsd]\nenabled = false\n[checks.unbilled_orders]\n"
    r = cli("--config", str(_config(tmp_path, body, f"sqlite:///{missing}")), "check")
    assert r.returncode == 3 and "unable to open database file" in r.stdout
    assert not missing.exists()


def test_dead_database_is_unknown(tmp_path: Path) -> None:
    body = "[statsd]\nenabled = false\n[checks.unbilled_orders]\n"
    url = "postgresql+psycopg://nobody@127.0.0.1:9/billing"  # discard port: refused
    r = cli("--config", str(_config(tmp_path, body, url)), "check", "--json")
    assert r.returncode == 3
    assert json.loads(r.stdout)["results"][0]["error"].startswith("OperationalError")


def test_unknown_check_name_is_a_usage_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, CONFIG, "sqlite:///x.db")
    r = cli("--config", str(cfg), "check", "unbiled_orders")
    assert r.returncode == 64
    assert "unknown check(s): unbiled_orders" in r.stderr and "unbilled_orders" in r.stderr


def test_bad_command_line_is_64() -> None:
    assert cli("frobnicate").returncode == 64
    assert cli("check", "--frob").returncode == 64


def test_postgres_with_own_table_names_via_query_overrides(
    tmp_path: Path, pg_server: PostgresServer, statsd: UdpListener
) -> None:
    """A real billing database never matches the reference schema."""
    week = current_period("iso_week", "Europe/Berlin", clock.settle("iso_week", "Europe/Berlin"))
    shop = create_engine(pg_server.fresh_database("shop"))
    with shop.begin() as c:
        c.execute(text(
            "CREATE TABLE subscriptions_orders (order_ref text PRIMARY KEY, state text, "
            "invoiced boolean, week_of date)"))
        c.execute(text("CREATE TABLE ledger (id serial, order_ref text)"))
        c.execute(text(
            "INSERT INTO subscriptions_orders SELECT 'o' || i, "
            "CASE WHEN i % 10 = 0 THEN 'paused' ELSE 'live' END, i % 7 <> 0, "
            f"date '{week.start}' + (i % 7) FROM generate_series(1, 700) i"))
        c.execute(text("INSERT INTO ledger (order_ref) SELECT order_ref FROM "
                       "subscriptions_orders WHERE invoiced AND order_ref <> 'o5'"))
    shop.dispose()
    body = """
[period]
timezone = "Europe/Berlin"
[checks.unbilled_orders]
query = '''SELECT COUNT(*) FROM subscriptions_orders
           WHERE state = 'live' AND NOT invoiced
             AND week_of >= :period_start AND week_of < :period_end'''
sample_query = '''SELECT order_ref FROM subscriptions_orders
           WHERE state = 'live' AND NOT invoiced
             AND week_of >= :period_start AND week_of < :period_end
           ORDER BY order_ref LIMIT :sample_limit'''
[checks.missing_billing_records]
query = '''SELECT COUNT(*) FROM subscriptions_orders o
           WHERE o.invoiced AND o.week_of >= :period_start AND o.week_of < :period_end
             AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.order_ref = o.order_ref)'''
"""
    cfg = _config(tmp_path, body, "sqlite:///unused.db")
    env = {**_agent(statsd), "BILLING_MONITOR_DATABASE_URL": pg_server.url("shop"),
           "DD_ENV": "staging"}
    r = cli("--config", str(cfg), "check", "--json", env=env)
    doc = json.loads(r.stdout)
    assert [x["error"] for x in doc["results"]] == [None, None]
    by = {x["check"]: x["measurements"][0] for x in doc["results"]}
    # live (i % 10 != 0) and not invoiced (i % 7 == 0): 100 multiples of 7, 10 of 70.
    assert by["unbilled_orders"]["value"] == 90
    assert by["unbilled_orders"]["samples"][:3] == ["o105", "o112", "o119"]
    assert by["missing_billing_records"]["value"] == 1
    assert {x["period"] for x in doc["results"]} == {week.label}
    assert r.returncode == 2  # 90 > 10 and 1 > 0 are both critical
    tags = "env:staging,service:billing"
    assert statsd.receive(8)[0::4] == [
        f"billing.unbilled_orders:90|g|#{tags},check:unbilled_orders",
        f"billing.missing_billing_records:1|g|#{tags},check:missing_billing_records",
    ]

    # Sunday 21:30 UTC is still Sunday in Berlin (CET or CEST): the same week ...
    sunday = week.start + timedelta(days=6)
    r = cli("--config", str(cfg), "check", "--json", "--at", f"{sunday}T21:30Z", env=env)
    assert [(x["period"], x["measurements"][0]["value"]) for x in json.loads(r.stdout)[
        "results"]] == [(week.label, 90), (week.label, 1)]
    # ... Sunday 23:30 UTC is Monday in Berlin: the next billing week, empty so far.
    r = cli("--config", str(cfg), "check", "--json", "--at", f"{sunday}T23:30Z", env=env)
    assert r.returncode == 0
    nxt = current_period("iso_week", "UTC", datetime.combine(
        sunday + timedelta(days=1), datetime.min.time(), UTC)).label
    assert [(x["period"], x["measurements"][0]["value"]) for x in json.loads(r.stdout)[
        "results"]] == [(nxt, 0), (nxt, 0)]


