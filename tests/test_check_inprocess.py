"""`billing-monitor check` run in-process (cli.run), so that a mutation of the
command's code is seen by the tests (the subprocess tests in test_cli.py and
test_check_command.py run the installed code): names, `--at`, liveness pings
with one run id, an echoed secret scrubbed, the state store's error shown."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from billing_monitor.commands import cli
from tests.helpers import demo_db
from tests.peers.fake_stripe import fake_stripe
from tests.peers.http_peers import Received, Reply
from tests.peers.http_services import HealthchecksPeer, SlackPeer
from tests.peers.statsd import UdpListener
from tests.test_exit_codes import config

__all__ = ["config"]  # fixture

DOWN = "postgresql+psycopg://monitor:pw@127.0.0.1:1/state"


def test_unknown_names_are_a_usage_error(config: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(config), "check", "ok", "nope", "zzz"])
    assert exit_.value.code == 64
    assert capsys.readouterr().err.strip() == (
        "billing-monitor: unknown check(s): nope, zzz (configured: ok, warn, crit, unknown)")


def test_only_the_named_checks_run(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["--config", str(config), "check", "warn", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [(r["check"], r["status"]) for r in doc["results"]] == [("warn", "WARN")]
    assert doc["sink_errors"] == []
    assert cli.run(["--config", str(config), "check", "crit"]) == 2
    out = capsys.readouterr().out
    assert "crit" in out and "CRIT" in out and "warn" not in out


def test_named_sql_checks_run_without_the_stripe_key_the_others_need(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """check NAME builds only the named checks (README): the on-call engineer
    can rerun a SQL check by hand without STRIPE_API_KEY."""
    config.write_text(config.read_text() + "[checks.payment_failure_rate]\n")
    assert cli.run(["--config", str(config), "check", "warn"]) == 1
    assert cli.run(["--config", str(config), "check", "warn", "--at", "2026-11-19T05:30Z"]) == 1
    capsys.readouterr()


def test_at_prints_another_period_and_sends_nothing(
    tmp_path: Path, statsd: UdpListener, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", str(statsd.port))
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{demo_db(tmp_path)}"\n'
                   "[checks.unbilled_orders]\n[checks.failed_charges]\n")
    args = ["--config", str(cfg), "check", "failed_charges", "--at", "2026-11-19T05:30Z"]
    assert cli.run([*args, "--json"]) == 1
    [res] = json.loads(capsys.readouterr().out)["results"]
    assert (res["check"], res["period"], res["measurements"][0]["value"]) == (
        "failed_charges", "2026-W47", 3)
    assert cli.run(args) == 1
    out = capsys.readouterr().out
    assert "failed_charges" in out and "2026-W47" in out and "unbilled_orders" not in out
    assert not out.lstrip().startswith("{")  # a table for people, not JSON
    assert cli.run(["--config", str(cfg), "check", "--json", "--at", "2026-11-12T00:00Z"]) == 0
    assert [r["period"] for r in json.loads(capsys.readouterr().out)["results"]] == [
        "2026-W46", "2026-W46"]
    assert statsd.drain() == []
    assert not (tmp_path / "billing-monitor-state.db").exists()


def test_liveness_pings_around_the_run_with_one_run_id(
    config: Path, healthchecks_peer: HealthchecksPeer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLING_MONITOR_PING_URL", healthchecks_peer.ping_url)
    config.write_text(config.read_text() + '[checks.gone]\ntype = "sql"\n'
                      'query = "SELECT v FROM gone"\n')
    assert cli.run(["--config", str(config), "check", "ok", "crit"]) == 2
    assert cli.run(["--config", str(config), "check", "ok", "unknown", "gone"]) == 3
    pings = healthchecks_peer.pings
    assert [p.kind for p in pings] == ["start", "success", "start", "fail"]
    assert pings[0].rid == pings[1].rid != pings[2].rid == pings[3].rid
    assert all(p.rid and len(p.rid) == 36 for p in pings)  # a uuid per run
    assert pings[3].body == ("unknown: OperationalError: no such table: no_such_table; "
                             "gone: OperationalError: no such table: gone")


def test_an_echoed_secret_is_scrubbed_from_the_output_and_the_gauges(
    config: Path, statsd: UdpListener, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "sk_test_51EchoedByTheDriver0000"
    monkeypatch.setenv("STRIPE_API_KEY", secret)
    monkeypatch.setenv("DD_DOGSTATSD_PORT", str(statsd.port))
    config.write_text(config.read_text().replace("[statsd]\nenabled = false\n", "")
                      + f'[checks.leaky]\ntype = "sql"\nquery = "SELECT * FROM {secret}"\n')
    assert cli.run(["--config", str(config), "check", "leaky", "--json"]) == 3
    out = capsys.readouterr().out
    assert json.loads(out)["results"][0]["error"] == (
        "OperationalError: no such table: [REDACTED]")
    assert cli.run(["--config", str(config), "check", "leaky", "--json",
                    "--at", "2026-11-19T05:30Z"]) == 3  # a look at another week, scrubbed too
    at = capsys.readouterr().out
    assert json.loads(at)["results"][0]["error"] == "OperationalError: no such table: [REDACTED]"
    assert secret not in at
    sent = "\n".join(statsd.receive(3))
    assert "[REDACTED]" in sent and secret not in sent + out


def test_an_unreachable_state_store_is_reported_with_the_results(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BILLING_MONITOR_STATE_URL", DOWN)
    assert cli.run(["--config", str(config), "check", "warn", "--json"]) == 69
    out, err = capsys.readouterr()
    [error] = json.loads(out)["sink_errors"]
    assert (error["sink"], error["check"]) == ("alerting", "-")
    assert error["error"].startswith(
        "state store postgresql+psycopg://monitor:***@127.0.0.1:1/state is unavailable: "
        "OperationalError: ")
    assert "is unavailable: OperationalError: " in err  # logged at ERROR, once
    assert err.count('; checks run without alerting", "level": "error"') == 1
    assert ":pw@" not in err
    assert cli.run(["--config", str(config), "check", "warn"]) == 69
    assert "alerting (-): state store postgresql+psycopg://monitor:***@127.0.0.1:1/state " \
           "is unavailable" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "code"), [("crit", 2), ("warn", 69), ("unknown", 69)])
def test_a_store_that_takes_no_writes_is_said_in_the_report_and_the_log(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    name: str, code: int,
) -> None:
    """The store was made, then opened read-only (a read-only mount): the
    checks run, the report and an ERROR line say the alert state was not
    recorded, and the exit code is 2 for a critical check, else 69."""
    assert cli.run(["--config", str(config), "check", "ok"]) == 0  # makes the store
    store = config.parent / "billing-monitor-state.db"
    assert store.exists()
    url = f"sqlite:///file:{store}?mode=ro&uri=true"
    monkeypatch.setenv("BILLING_MONITOR_STATE_URL", url)
    capsys.readouterr()
    assert cli.run(["--config", str(config), "check", name, "--json"]) == code
    out, err = capsys.readouterr()
    doc = json.loads(out)
    shown = f"sqlite:///file%3A{store}?mode=ro&uri=true"  # the URL as logged (redact_url)
    expected = (f"state store {shown} does not take writes: OperationalError: attempt to "
                "write a readonly database; the alert state of this run was not recorded "
                "and nothing was paged for it")
    assert [r["check"] for r in doc["results"]] == [name]  # the check still ran
    assert doc["sink_errors"] == [
        {"sink": "alerting", "check": name,
         "error": "OperationalError: attempt to write a readonly database"},
        {"sink": "alerting", "check": "-", "error": expected}]
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    ran = [("warning", "billing_monitor.runner", "check unknown could not run: "
            "OperationalError: no such table: no_such_table")] if name == "unknown" else []
    assert [(e["level"], e["logger"], e["event"]) for e in logged] == [*ran,
        ("error", "billing_monitor.alerting", f"state store did not take the alert state of "
         f"{name}: OperationalError: attempt to write a readonly database"),
        ("warning", "billing_monitor.runner", f"sink alerting failed for check {name}: "
         "OperationalError: attempt to write a readonly database"),
        ("error", "billing_monitor", expected)]  # each once
    assert cli.run(["--config", str(config), "check", name]) == code
    assert f"alerting (-): {expected}" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "code"), [("crit", 2), ("warn", 1)])
def test_a_failed_delivery_is_in_the_report_and_is_not_a_store_problem(
    config: Path, slack_peer: SlackPeer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, code: int,
) -> None:
    """Slack answers 500: the run's report names the channel and the error,
    the row waits in the outbox for a retry, and the exit code is the
    check's own (a receiver that fails is not an unreachable store: no 69)."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_peer.webhook_url)
    slack_peer.set_fault("error")
    assert cli.run(["--config", str(config), "check", name, "--json"]) == code
    doc = json.loads(capsys.readouterr().out)
    assert doc["sink_errors"] == [{"sink": "alerting", "check": "-",
                                   "error": "slack: SinkError: Slack: HTTP 500: rollup_error"}]
    slack_peer.set_fault("ok")
    assert cli.run(["--config", str(config), "check", name, "--json"]) == code
    assert json.loads(capsys.readouterr().out)["sink_errors"] == []
    assert len(slack_peer.requests) == 1  # the retry waits for its backoff


def test_a_receivers_secret_echoed_by_a_check_is_scrubbed(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The secret a `[receivers.NAME]` keeps in its own `secret_env` (not one of
    the built-in variables) is scrubbed too, in a run and in a look with --at."""
    secret = "https://example.invalid/workflows/invoicing-0123456789abcdef"
    monkeypatch.setenv("TEAMS_INVOICING_URL", secret)
    config.write_text(config.read_text()
                      + f'[checks.leaky]\ntype = "sql"\nquery = "SELECT * FROM \\"{secret}\\""\n'
                      + '[receivers.invoicing]\nkind = "teams"\n'
                      + 'secret_env = "TEAMS_INVOICING_URL"\n'
                      + '[routing]\ndefault = ["invoicing"]\n')
    for extra in ([], ["--at", "2026-11-19T05:30Z"]):
        assert cli.run(["--config", str(config), "check", "leaky", "--json", *extra]) == 3
        out, err = capsys.readouterr()
        assert json.loads(out)["results"][0]["error"] == (
            "OperationalError: no such table: [REDACTED]")
        assert secret not in out + err


def test_named_checks_run_in_the_order_given(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    for extra in ([], ["--at", "2026-11-19T05:30Z"]):
        assert cli.run(["--config", str(config), "check", "crit", "ok", "warn", "--json",
                        *extra]) == 2
        doc = json.loads(capsys.readouterr().out)
        assert [r["check"] for r in doc["results"]] == ["crit", "ok", "warn"]


def test_at_reads_the_stripe_key_from_the_environment(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """`--at` builds its checks with the process environment: a Stripe check
    finds STRIPE_API_KEY there (an empty account: nothing stuck, OK)."""
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_51AtLookKey000000000000")
    with fake_stripe() as (_, url):
        config.write_text(config.read_text() + f'[stripe]\napi_base = "{url}"\n'
                          "max_network_retries = 0\n[checks.stuck_payment_intents]\n")
        code = cli.run(["--config", str(config), "check", "stuck_payment_intents", "--json",
                        "--at", "2026-11-19T05:30Z"])
    [res] = json.loads(capsys.readouterr().out)["results"]
    assert (code, res["status"], res["error"]) == (0, "OK", None)


class _StoreBreakingSlack(SlackPeer):
    """Slack that, while it takes the message, has the state store lose its
    outbox table (a restore or a migration run under the monitor)."""

    store: Path

    def handle(self, req: Received) -> Reply:
        with sqlite3.connect(self.store) as db:
            db.execute("ALTER TABLE outbox RENAME TO outbox_gone")
        return super().handle(req)


def test_a_store_that_fails_during_the_delivery_is_said_and_exits_69(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.run(["--config", str(config), "check", "ok"]) == 0  # makes the store
    capsys.readouterr()
    slack = _StoreBreakingSlack()
    slack.store = config.parent / "billing-monitor-state.db"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    try:
        assert cli.run(["--config", str(config), "check", "warn", "--json"]) == 69
    finally:
        slack.close()
    assert len(slack.messages) == 1  # delivered; the store could not say so
    out, err = capsys.readouterr()
    message = (f"state store sqlite:///{slack.store} does not take writes: OperationalError: "
               "no such table: outbox; the outbox failed during delivery: what this run sent "
               "may be sent again by the next run")
    assert json.loads(out)["sink_errors"] == [
        {"sink": "alerting", "check": "-", "error": message}]
    assert err.count(message) == 1  # logged at ERROR once
