"""Notifier settings, secrets from the environment, and the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.alerts.config import Secrets
from billing_monitor.alerts.contract import NullLiveness
from billing_monitor.alerts.liveness import BackgroundLiveness, Heartbeat, NullHeartbeat
from billing_monitor.alerts.notifiers import (
    NOTIFIERS,
    build_heartbeat,
    build_liveness,
    build_notifiers,
)
from billing_monitor.checks.errors import ConfigError
from billing_monitor.commands import cli
from billing_monitor.settings.load import parse_settings
from billing_monitor.settings.model import Settings

ROUTING_KEY = "S3cr3tR0utingKey0123456789abcdef"
ENV = {
    "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T1/B1/slacksecret123",
    "GOOGLE_CHAT_WEBHOOK_URL": "https://chat.example/v1/spaces/S/messages?key=k&token=gcsecret",
    "BILLING_MONITOR_PING_URL": "https://hc-ping.example/5f2c6a4e-ping-uuid",
    "BILLING_MONITOR_HEARTBEAT_URL": "https://hc-ping.example/9d1e-heartbeat-uuid",
}


def settings(env: dict[str, str] | None = None, **sections: Any) -> Settings:
    raw = {"checks": {"unbilled_orders": {"thresholds": {"critical": 10}}}, **sections}
    return parse_settings(raw, "test.toml", env or {})


def test_only_configured_notifiers_are_built() -> None:
    assert build_notifiers(settings(), Secrets()) == {}
    secrets = Secrets.from_env(ENV)
    built = build_notifiers(settings(ENV), secrets)
    assert list(built) == list(NOTIFIERS) == ["pagerduty", "slack", "google_chat"]
    assert all(name == n.name for name, n in built.items())
    off = settings(ENV, slack={"enabled": False}, pagerduty={"enabled": False})
    assert list(build_notifiers(off, secrets)) == ["google_chat"]


def test_liveness_is_a_null_object_unless_configured() -> None:
    assert isinstance(build_liveness(settings(), Secrets()), NullLiveness)
    assert isinstance(build_heartbeat(settings(), Secrets()), NullHeartbeat)
    secrets = Secrets.from_env(ENV)
    live = build_liveness(settings(), secrets)
    assert isinstance(live, BackgroundLiveness)
    live.close()
    assert isinstance(build_heartbeat(settings(), secrets), Heartbeat)
    off = settings(liveness={"enabled": False})
    assert isinstance(build_liveness(off, secrets), NullLiveness)


def test_secrets_stay_out_of_settings_and_reprs() -> None:
    s = settings(ENV)
    dumped = s.model_dump_json() + repr(s) + repr(Secrets.from_env(ENV))
    for value in ENV.values():
        assert value not in dumped
    assert repr(Secrets.from_env(ENV)).startswith("Secrets(pagerduty=<set>, slack=<set>")
    assert Secrets.from_env({"SLACK_WEBHOOK_URL": "  "}).slack_webhook_url is None


def test_malformed_secret_variables_are_named_without_their_values() -> None:
    env = {"PAGERDUTY_ROUTING_KEY": "short-secret", "SLACK_WEBHOOK_URL": "hooks/secret-path"}
    with pytest.raises(ConfigError) as info:
        settings(env)
    assert info.value.problems == [
        "environment: SLACK_WEBHOOK_URL: must be an http(s):// URL",
        "environment: PAGERDUTY_ROUTING_KEY: must be a 32-character integration key "
        "(Events API v2)",
    ]
    assert "secret" not in str(info.value)


def test_pagerduty_section_is_strict_and_takes_the_eu_region() -> None:
    eu = settings(pagerduty={"events_url": "https://events.eu.pagerduty.com"})
    assert eu.pagerduty.events_url == "https://events.eu.pagerduty.com"
    with pytest.raises(ConfigError) as info:
        settings(pagerduty={"events_url": "http://events.pagerduty.com", "max_attempts": 9,
                            "routing_key": "x"})
    problems = "\n".join(info.value.problems)
    assert "test.toml: pagerduty.events_url: must be an https:// URL (the PagerDuty client " \
        "refuses http) (got 'http://events.pagerduty.com')" in problems
    assert "test.toml: pagerduty.max_attempts: Input should be less than or equal to 5" \
        in problems
    assert "test.toml: pagerduty.routing_key: unknown key" in problems


def test_validate_shows_each_notifier_without_its_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "billing-monitor.toml"
    config.write_text('[checks.unbilled_orders]\nthresholds = { critical = 10 }\n'
                      '[google_chat]\nenabled = false\n')
    for var, value in ENV.items():
        if var != "BILLING_MONITOR_HEARTBEAT_URL":
            monkeypatch.setenv(var, value)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(config), "validate", "--json"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    sinks = json.loads(out)["sinks"]
    assert sinks["pagerduty"] == ("https://events.pagerduty.com "
                                  "(routing key from $PAGERDUTY_ROUTING_KEY)")
    assert sinks["slack"] == "webhook from $SLACK_WEBHOOK_URL"
    assert (sinks["google_chat"], sinks["heartbeat"]) == ("disabled", "not configured")
    for value in ENV.values():
        assert value not in out
