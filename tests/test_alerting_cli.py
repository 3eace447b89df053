"""`billing-monitor check` and `status` with the state store, through the
real wiring: a SQLite billing database whose number we change between runs,
the Slack peer on loopback, DogStatsD on a UDP socket."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from billing_monitor.checks.period import current_period
from billing_monitor.commands import cli
from tests import clock
from tests.helpers import cli as run_cli
from tests.peers.http_services import SlackPeer
from tests.peers.statsd import UdpListener


def billing_db(path: Path, value: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t VALUES (?)", (value,))


def config(tmp_path: Path, statsd_port: int) -> Path:
    cfg = tmp_path / "billing-monitor.toml"
    cfg.write_text(f"""
[monitor]
env = "test"
[database]
url = "sqlite:///billing.db"
[statsd]
port = {statsd_port}
[outbox]
drain_seconds = 5
[checks.unbilled_orders]
type = "sql"
metric = "unbilled_orders"
query = "SELECT v FROM t"
runbook_url = "https://runbooks.example.com/unbilled"
[checks.unbilled_orders.thresholds]
critical = 10
""")
    return cfg


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_peer: SlackPeer) -> SlackPeer:
    for var in ("PAGERDUTY_ROUTING_KEY", "GOOGLE_CHAT_WEBHOOK_URL", "BILLING_MONITOR_STATE_URL",
                "BILLING_MONITOR_DATABASE_URL", "DD_AGENT_HOST", "DD_DOGSTATSD_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_peer.webhook_url)
    return slack_peer


@pytest.mark.clock
def test_check_alerts_once_resolves_and_status_shows_it(
    tmp_path: Path, slack_peer: SlackPeer, statsd: UdpListener,
) -> None:
    """As cron runs it: real processes on the clock they read (CI shifts it)."""
    cfg = config(tmp_path, statsd.port)
    env = {"SLACK_WEBHOOK_URL": slack_peer.webhook_url}
    billing_db(tmp_path / "billing.db", 25)
    # The three runs must share one billing week: not across Monday 00:00.
    key = f"billing/unbilled_orders/{current_period('iso_week', 'UTC', clock.settle()).label}"
    for _ in range(3):
        assert run_cli("--config", str(cfg), "check", env=env).returncode == 2
    assert len(slack_peer.messages) == 1 and key in json.dumps(slack_peer.messages[0])
    lines = statsd.drain()
    assert any(line.startswith("billing.outbox.depth:0|g|") for line in lines)
    assert any(line.startswith("billing.outbox.oldest_age_seconds:0") for line in lines)

    r = run_cli("--config", str(cfg), "status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert [(c["name"], c["status"], [v["value"] for v in c["values"]])
            for c in status["checks"]] == [("unbilled_orders", "CRIT", [25.0])]
    assert [(i["dedup_key"], i["severity"], i["notified"], i["delivery"])
            for i in status["incidents"]] == [
        (key, "critical", True, [{"channel": "slack", "state": "delivered", "attempts": 1}])]
    assert status["outbox"] == {"depth": 0, "oldest_age_seconds": 0.0, "dead": 0}

    billing_db(tmp_path / "billing.db", 0)
    assert run_cli("--config", str(cfg), "check", env=env).returncode == 0
    assert len(slack_peer.messages) == 2 and "RESOLVED" in json.dumps(slack_peer.messages[1])
    r = run_cli("--config", str(cfg), "status", env=env)
    assert r.returncode == 0
    assert "unbilled_orders" in r.stdout and "No open incidents." in r.stdout
    assert (tmp_path / "billing-monitor-state.db").exists()  # beside the config file


def test_slack_down_keeps_the_alert_in_the_outbox_until_it_is_back(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, capsys: pytest.CaptureFixture[str],
) -> None:
    clock.settle()  # in-process runs on the wall clock: both in one billing week
    cfg = config(tmp_path, statsd.port)
    billing_db(tmp_path / "billing.db", 25)
    env.set_fault("refused")
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert any(line.startswith("billing.outbox.depth:1|g|") for line in statsd.drain())
    capsys.readouterr()
    cli.run(["--config", str(cfg), "status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert status["outbox"]["depth"] == 1
    # Queued is not paged: status says the page has not arrived.
    assert [i["delivery"] for i in status["incidents"]] == [
        [{"channel": "slack", "state": "retrying", "attempts": 1}]]
    cli.run(["--config", str(cfg), "status"])
    assert "slack: pending (1 attempts)" in capsys.readouterr().out
    env.set_fault("ok")
    engine = create_engine(f"sqlite:///{tmp_path / 'billing-monitor-state.db'}")
    with engine.begin() as conn:  # let the backoff pass without waiting for it
        conn.execute(text("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'"))
    engine.dispose()
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert len(env.messages) == 1  # delivered once, and the rerun did not add another


def test_no_secret_reaches_the_state_store(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, monkeypatch: pytest.MonkeyPatch,
) -> None:
    routing_key = "R0utingKeyS3cretR0utingKeyS3cr3t"
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", routing_key)
    monkeypatch.setenv("BILLING_MONITOR_DATABASE_URL",
                       f"sqlite:///{tmp_path / 'missing.db'}?password=hunter2pass")
    cfg = config(tmp_path, statsd.port)
    for _ in range(4):  # UNKNOWN runs (the database is missing) open the degraded alert
        cli.run(["--config", str(cfg), "check"])
    billing_db(tmp_path / "billing.db", 25)
    monkeypatch.delenv("BILLING_MONITOR_DATABASE_URL")
    cli.run(["--config", str(cfg), "check"])
    dump = "\n".join(
        str(row) for table in ("check_runs", "alerts", "outbox", "silences")
        for row in sqlite3.connect(tmp_path / "billing-monitor-state.db").execute(
            f"SELECT * FROM {table}")
    )
    assert "degraded" in dump and "unbilled_orders" in dump
    for secret in (routing_key, env.token, "hunter2pass"):
        assert secret not in dump


def test_check_fails_clearly_when_the_state_store_is_unreachable(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BILLING_MONITOR_STATE_URL",
                       "postgresql+psycopg://monitor:pw@127.0.0.1:1/state")
    cfg = config(tmp_path, statsd.port)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(cfg), "status"])
    assert exit_.value.code == 69
    err = capsys.readouterr().err
    assert "state store postgresql+psycopg://monitor:***@127.0.0.1:1/state is unavailable" in err
    assert ":pw@" not in err


def test_silence_command_mutes_a_check_until_it_is_ended(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, capsys: pytest.CaptureFixture[str],
) -> None:
    clock.settle()  # in-process runs on the wall clock: all in one billing week
    cfg = config(tmp_path, statsd.port)
    billing_db(tmp_path / "billing.db", 25)
    assert cli.run(["--config", str(cfg), "silence", "unbilled_orders", "--minutes", "120",
                    "--reason", "billing migration", "--by", "alice"]) == 0
    out = capsys.readouterr().out
    assert "Silence 1: unbilled_orders muted for 120 minutes." in out
    assert "alice" in out and "billing migration" in out
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert env.messages == []  # muted, but tracked:
    capsys.readouterr()
    cli.run(["--config", str(cfg), "status", "--json"])
    (incident,) = json.loads(capsys.readouterr().out)["incidents"]
    assert (incident["notified"], incident["silenced"]) == (False, True)
    assert cli.run(["--config", str(cfg), "silence", "--end", "1"]) == 0
    out = capsys.readouterr().out
    assert "Silence 1 ended" in out and "No active silences" in out
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert len(env.messages) == 1  # the silence ended while still failing: it notifies


@pytest.mark.parametrize("argv, message", [
    (["silence"], "give a CHECK"),
    (["silence", "nope", "--reason", "x"], "unknown check 'nope'"),
    (["silence", "unbilled_orders"], "--reason is required"),
    (["silence", "--end", "7"], "no active silence with id 7"),
])
def test_silence_command_usage_errors(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:
    cfg = config(tmp_path, statsd.port)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(cfg), *argv])
    assert exit_.value.code == 64
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("value", "code"), [(25, 2), (3, 69)], ids=["critical", "ok"])
def test_check_still_sends_metrics_when_the_state_store_is_unreachable(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], value: int, code: int,
) -> None:
    monkeypatch.setenv("BILLING_MONITOR_STATE_URL",
                       "postgresql+psycopg://monitor:pw@127.0.0.1:1/state")
    cfg = config(tmp_path, statsd.port)
    billing_db(tmp_path / "billing.db", value)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(cfg), "check"])
    # A critical check wins over the unreachable store: a wrapper paging on 2 pages.
    assert exit_.value.code == code
    lines = statsd.drain()
    assert any(line.startswith(f"billing.unbilled_orders:{value}|") for line in lines), lines
    assert not any(line.startswith("billing.outbox.") for line in lines)
    captured = capsys.readouterr()
    assert "unbilled_orders" in captured.out and "is unavailable" in captured.out
    assert ":pw@" not in captured.out + captured.err


def test_drain_seconds_zero_leaves_the_alert_queued_for_the_next_run(
    tmp_path: Path, env: SlackPeer, statsd: UdpListener,
) -> None:
    """[outbox] drain_seconds bounds how long `check` delivers after its run:
    with 0 nothing goes out now, and the next run (given time) sends it."""
    clock.settle()  # in-process runs on the wall clock: both in one billing week
    cfg = config(tmp_path, statsd.port)
    cfg.write_text(cfg.read_text().replace("drain_seconds = 5", "drain_seconds = 0"))
    billing_db(tmp_path / "billing.db", 25)
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert env.requests == []
    assert any(line.startswith("billing.outbox.depth:1|g|") for line in statsd.drain())
    cfg.write_text(cfg.read_text().replace("drain_seconds = 0", "drain_seconds = 5"))
    assert cli.run(["--config", str(cfg), "check"]) == 2
    assert len(env.messages) == 1 and "ALERT [critical]" in env.messages[0]["text"]
