"""The daemon's health probe (/healthz) with an injected clock, and its
settings: a bad config at start-up, the documented defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from billing_monitor.checks.errors import ConfigError
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.settings.load import load_settings
from billing_monitor.settings.model import Settings
from tests.daemon_helpers import NOW
from tests.test_daemon import Clock, config, make_daemon

__all__ = ["config"]  # fixture


def test_health_follows_scheduler_cycle_age_and_state_store(config: Path) -> None:
    # Documented allowance (example config, [daemon]): twice the shortest gap
    # between runs, plus the longest check timeout and the misfire grace.
    # Here: weekly checks, 45 s and 60 s, so 2 * 604800 + 45 + 60 seconds.
    text = config.read_text().replace("shutdown_timeout_seconds = 20",
                                      "shutdown_timeout_seconds = 20\nmisfire_grace_seconds = 60")
    config.write_text(text.replace('[checks.failed_charges]\n',
                                   '[checks.failed_charges]\ntimeout_seconds = 45\n'))
    allowance = 1_209_705
    clock = Clock(NOW)
    reachable: list[str | None] = [None]
    d = make_daemon(config, Hooks(state_store=lambda: reachable[0],
                                  state_store_configured=True), clock=clock)
    ok, body = d.health()
    assert not ok and body["reasons"] == ["scheduler is not running"]
    d.start()
    try:
        ok, body = d.health()
        assert ok, body
        assert body["state_store"] == "reachable"
        assert body["max_cycle_age_s"] == allowance
        clock.now = NOW + timedelta(seconds=allowance)  # at the limit: still healthy
        assert d.health()[0]
        clock.now = NOW + timedelta(seconds=allowance + 1)
        ok, body = d.health()
        assert not ok and body["reasons"] == [
            f"start (no run yet) was {allowance + 1}s ago, more than {allowance}s"]
        d.run_check("unbilled_orders")  # a run now resets the age
        assert d.health()[0]
        reachable[0] = "connection refused"
        ok, body = d.health()
        assert not ok and body["reasons"] == ["state store unreachable: connection refused"]
    finally:
        d.scheduler.shutdown(wait=False)


def test_a_bad_config_at_start_up_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[checks.x]\ntype = 'nope'\n", "utf-8")
    with pytest.raises(ConfigError):
        load_settings(path, {})


# The defaults as the README and the example config state them, written out here.
DOCUMENTED = {
    "daemon": {"timezone": "UTC", "misfire_grace_seconds": 300, "jitter_seconds": 0,
               "max_workers": 4, "shutdown_timeout_seconds": 30.0,
               "max_cycle_age_seconds": None},
    # loopback, README; remote binding only when asked; bounded connections (issue 9)
    "http": {"enabled": True, "host": "127.0.0.1", "port": 9465, "allow_remote": False,
             "read_timeout_seconds": 5.0, "max_connections": 16},
    "logging": {"format": "auto", "level": "INFO"},
}


def _sections(s: Settings) -> dict[str, dict[str, object]]:
    return {name: getattr(s, name).model_dump() for name in DOCUMENTED}


def test_settings_sections_have_the_documented_safe_defaults() -> None:
    assert _sections(Settings()) == DOCUMENTED


def test_the_example_config_documents_the_defaults() -> None:
    s = load_settings(Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml", {})
    assert _sections(s) == DOCUMENTED

