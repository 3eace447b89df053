"""A receiver added by a reload (SIGHUP) has its secret scrubbed from the logs
and results from then on: the daemon's redactor learns it at the reload."""

from __future__ import annotations

from pathlib import Path

from billing_monitor.commands.run import _loader
from billing_monitor.logs import REDACTED, Redactor

BASE = """[checks.unbilled_orders]
type = "unbilled_orders"
"""
RECEIVER = """
[receivers.oncall_hook]
kind = "webhook"
secret_env = "ONCALL_HOOK_KEY"
url = "https://hooks.example.invalid/billing"

[[routes]]
receivers = ["oncall_hook"]
"""
KEY = "whsec-a-signing-key-added-by-a-reload"


def test_a_reload_that_adds_a_receiver_teaches_the_redactor_its_secret(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(BASE)
    env = {"ONCALL_HOOK_KEY": KEY}
    redactor = Redactor([])
    _loader(config, env, redactor)
    assert redactor.scrub(f"POST failed: {KEY}") == f"POST failed: {KEY}"  # not a secret yet
    config.write_text(BASE + RECEIVER)
    settings = _loader(config, env, redactor)
    assert "oncall_hook" in settings.receivers
    assert redactor.scrub(f"POST failed: {KEY}") == f"POST failed: {REDACTED}"
