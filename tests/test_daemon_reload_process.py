"""`billing-monitor run` as a real process: SIGHUP with a configuration that
no longer has a failing check sends that check's incident its resolve, once
(README: every trigger is eventually matched by a resolve). Slack is the
local peer; the outbox is delivered every second; nothing else is configured."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import clock
from tests.daemon_helpers import write_config
from tests.helpers import live_demo_db
from tests.peers.http_services import SlackPeer
from tests.test_daemon_process import BIN

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

BOUND = 60.0  # seconds; a bound on waiting for an event, never an assertion on speed


def wait_for(what: str, done: Callable[[], bool], proc: subprocess.Popen[bytes],
             err: Path) -> None:
    deadline = time.monotonic() + BOUND
    while not done():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {what}; stderr: {err.read_text(errors='replace')}")
        time.sleep(0.1)


def titles(peer: SlackPeer) -> list[str]:
    return [m["text"].splitlines()[0] for m in peer.messages]


def test_sighup_without_a_failing_check_resolves_its_incident(
    tmp_path: Path, slack_peer: SlackPeer,
) -> None:
    clock.settle(zone=clock.ZONE)
    db = live_demo_db(tmp_path, clock.ZONE, "billing-demo.db")
    config = write_config(tmp_path / "monitor.toml", db, http_enabled=False, zone=clock.ZONE)
    config.write_text(config.read_text() + "\n[outbox]\ndispatch_seconds = 1\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BILLING_", "DD_", "PAGERDUTY", "SLACK", "GOOGLE", "STRIPE",
                                "NOTIFY_SOCKET", "WATCHDOG"))}
    env.update({**clock.process_env(), "SLACK_WEBHOOK_URL": slack_peer.webhook_url})
    err = tmp_path / "stderr"
    with err.open("wb") as e:
        proc = subprocess.Popen([str(BIN), "--config", str(config), "run", "--run-now",
                                 "--log-format", "json"], env=env, stdout=subprocess.DEVNULL,
                                stderr=e, stdin=subprocess.DEVNULL)
    try:
        wait_for("alerts", lambda: len(slack_peer.messages) >= 2, proc, err)
        assert sorted(titles(slack_peer)) == ["🔴 ALERT [critical]: unbilled_orders",
                                              "🔴 ALERT [warning]: failed_charges"]
        text = config.read_text()
        config.write_text(text.replace('[checks.unbilled_orders]\nschedule = "30 5 * * 4"\n'
                                       '[checks.unbilled_orders.thresholds]\ncritical = 10\n',
                                       ""))
        proc.send_signal(signal.SIGHUP)
        wait_for("resolve", lambda: len(slack_peer.messages) >= 3, proc, err)
        time.sleep(2)  # two more dispatch passes: nothing else may arrive
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=BOUND) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert titles(slack_peer)[2:] == ["✅ RESOLVED: unbilled_orders"]
    assert "the check was removed from the configuration" in slack_peer.messages[2]["text"]
