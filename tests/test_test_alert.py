"""`billing-monitor test-alert`: against the local peers, through the real CLI
where it matters. Output and logs never hold a secret."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.alerts.config import Secrets
from billing_monitor.commands import cli
from billing_monitor.commands.errors import ExitCode
from billing_monitor.commands.send_test import TestAlert
from billing_monitor.settings.load import parse_settings
from billing_monitor.settings.model import Settings
from tests.peers.http_peers import Tls
from tests.peers.http_services import GoogleChatPeer, HealthchecksPeer, PagerDutyPeer, SlackPeer
from tests.peers.statsd import UdpListener

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

ROUTING_KEY = "S3cr3tR0utingKey0123456789abcdef"
TEST_KEY = re.compile(r"^billing/test-alert/[0-9a-f-]{36}$")


def settings(**sections: Any) -> Settings:
    raw = {"checks": {"unbilled_orders": {"thresholds": {"critical": 10}}}, **sections}
    return parse_settings(raw, "test.toml", {})


def run(target: str, s: Settings, secrets: Secrets, tls: Tls | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = TestAlert(s, secrets, out, verify=tls.client if tls else True).run(target)
    return code, out.getvalue()


def pd_settings(peer: PagerDutyPeer) -> Settings:
    return settings(pagerduty={"events_url": peer.url, "client_timeout_seconds": 0.3,
                               "max_attempts": 1})


def test_pagerduty_triggers_a_labelled_test_incident_and_resolves_it(
        pagerduty_peer: PagerDutyPeer, tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = Secrets(pagerduty_routing_key=ROUTING_KEY)
    code, out = run("pagerduty", pd_settings(pagerduty_peer), secrets, tls)
    assert code == ExitCode.OK
    (incident,) = pagerduty_peer.incidents
    assert TEST_KEY.match(incident.dedup_key)
    assert incident.summary.startswith("TEST ONLY — please ignore")
    assert (incident.severity, incident.status, incident.events) == (
        "info", "resolved", ["trigger", "resolve"])
    assert f"dedup key {incident.dedup_key}" in out and "resolved it" in out
    run("pagerduty", pd_settings(pagerduty_peer), secrets, tls)
    assert len({i.dedup_key for i in pagerduty_peer.incidents}) == 2  # never the same key
    assert ROUTING_KEY not in out + caplog.text


def test_pagerduty_down_exits_69_without_the_key(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pagerduty_peer.set_fault("refused")
    code, out = run("pagerduty", pd_settings(pagerduty_peer),
                    Secrets(pagerduty_routing_key=ROUTING_KEY), tls)
    assert code == ExitCode.UNAVAILABLE == 69
    assert "PagerDuty: FAILED to send the test event (transient)" in out
    assert ROUTING_KEY not in out


def test_resolve_failure_is_reported_with_the_key(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pagerduty_peer.queue("ok", "error")
    code, out = run("pagerduty", pd_settings(pagerduty_peer),
                    Secrets(pagerduty_routing_key=ROUTING_KEY), tls)
    assert code == ExitCode.UNAVAILABLE
    key = pagerduty_peer.open_alerts()[0].dedup_key
    assert f"stays open until resolved by hand (dedup key {key})" in out


@pytest.mark.parametrize("target", ["pagerduty", "chat", "liveness"])
def test_unconfigured_sink_exits_78(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(target, settings(), Secrets())
    assert code == ExitCode.CONFIG == 78 and out == ""
    assert "is not configured: set " in capsys.readouterr().err


def test_chat_posts_to_every_channel_even_when_one_fails(
        slack_peer: SlackPeer, google_chat_peer: GoogleChatPeer) -> None:
    secrets = Secrets(slack_webhook_url=slack_peer.webhook_url,
                      google_chat_webhook_url=google_chat_peer.webhook_url)
    s = settings(slack={"timeout_seconds": 0.3}, google_chat={"timeout_seconds": 0.3})
    code, out = run("chat", s, secrets)
    assert code == ExitCode.OK
    assert [m["text"].splitlines()[0] for m in slack_peer.messages] == [
        "\U0001f9ea TEST ONLY — please ignore: test_alert", "\u2705 RESOLVED: test_alert"]
    first, resolved = google_chat_peer.messages
    assert first["thread"]["name"] == resolved["thread"]["name"]
    assert TEST_KEY.match(first["thread"]["threadKey"])
    slack_peer.set_fault("refused")
    code, out = run("chat", s, secrets)
    assert code == ExitCode.UNAVAILABLE
    assert len(google_chat_peer.messages) == 4 and "Slack: FAILED" in out
    assert slack_peer.token not in out and google_chat_peer.token not in out


def test_liveness_pings_start_and_success_and_the_heartbeat(
        healthchecks_peer: HealthchecksPeer, caplog: pytest.LogCaptureFixture) -> None:
    secrets = Secrets(ping_url=healthchecks_peer.ping_url,
                      heartbeat_url=healthchecks_peer.ping_url)
    s = settings(liveness={"timeout_seconds": 0.3})
    code, out = run("liveness", s, secrets)
    assert code == ExitCode.OK
    start, success, beat = healthchecks_peer.pings
    assert (start.kind, success.kind, beat.kind) == ("start", "success", "success")
    assert start.rid == success.rid and start.rid in out and beat.rid is None
    assert "fail" not in {p.kind for p in healthchecks_peer.pings}
    healthchecks_peer.set_fault("error")
    code, out = run("liveness", s, secrets)
    assert code == ExitCode.UNAVAILABLE and "FAILED" in out
    assert healthchecks_peer.check_uuid not in out + caplog.text


def test_statsd_sends_a_test_gauge_and_service_check(statsd: UdpListener) -> None:
    s = settings(statsd={"host": "127.0.0.1", "port": statsd.port, "tags": ["team:billing"]},
                 monitor={"env": "prod", "service": "payments"})
    code, out = run("statsd", s, Secrets())
    assert code == ExitCode.OK
    lines = statsd.receive(2)
    # env and service, like every other metric, so the test shows up where they filter
    tags = "env:prod,service:payments,team:billing,test:true"
    assert lines[0] == f"billing.test_alert:1|g|#{tags}"
    assert lines[1].startswith(f"_sc|billing.test_alert|0|#{tags}|m:TEST ONLY")
    assert f"127.0.0.1:{statsd.port}" in out
    assert run("statsd", settings(statsd={"enabled": False}), Secrets())[0] == ExitCode.CONFIG


def test_cli_end_to_end_prints_no_secret(tmp_path: Path, slack_peer: SlackPeer,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "billing-monitor.toml"
    config.write_text('[checks.unbilled_orders]\nthresholds = { critical = 10 }\n')
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_peer.webhook_url)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(config), "--log-level", "DEBUG", "test-alert", "chat"])
    assert exit_.value.code == 0
    captured = capsys.readouterr()
    assert "Slack: resolved it" in captured.out
    assert slack_peer.token not in captured.out + captured.err
    assert len(slack_peer.messages) == 2
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "too-short")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(config), "test-alert", "pagerduty"])
    assert exit_.value.code == 78
    err = capsys.readouterr().err
    assert "PAGERDUTY_ROUTING_KEY: must be a 32-character" in err and "too-short" not in err


def test_subprocess_with_debug_logs_leaks_no_secret(
        tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer) -> None:
    """A real process, as an operator runs it, logging at DEBUG to stderr."""
    config = tmp_path / "billing-monitor.toml"
    config.write_text('[checks.unbilled_orders]\nthresholds = { critical = 10 }\n'
                      f'[pagerduty]\nevents_url = "{pagerduty_peer.url}"\n')
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    env = {**os.environ, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "SSL_CERT_FILE": str(ca),
           "SLACK_WEBHOOK_URL": slack_peer.webhook_url}
    for target in ("pagerduty", "chat"):
        r = subprocess.run([sys.executable, "-m", "billing_monitor", "--config", str(config),
                            "--log-level", "DEBUG", "test-alert", target],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "HTTP Request: POST" in r.stderr or target == "pagerduty"
        for secret in (ROUTING_KEY, slack_peer.token):
            assert secret not in r.stdout + r.stderr
    assert [i.status for i in pagerduty_peer.incidents] == ["resolved"]
    assert len(slack_peer.messages) == 2
