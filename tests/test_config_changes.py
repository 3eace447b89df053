"""An incident never goes silent after a configuration change (issue 8):
a check removed and put back while still failing alerts again; a notifier
configured while incidents are open hears of them at the next run; two
configurations sharing one state store (two hosts) never resolve each
other's incidents. Real `billing-monitor check` processes, real peers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests import clock
from tests.helpers import cli
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer, SlackPeer

pytestmark = pytest.mark.clock  # starts the real process

ROUTING_KEY = "R0utingKeyForConfigChanges00000x"


def _config(tmp_path: Path, pd: PagerDutyPeer, checks: dict[str, int],
            name: str = "bm.toml") -> Path:
    db = tmp_path / "billing.db"
    if not db.exists():
        sqlite3.connect(db).close()
    body = "".join(f'[checks.{c}]\ntype = "sql"\nquery = "SELECT {v}"\n'
                   f"thresholds = {{ critical = 10 }}\n" for c, v in checks.items())
    cfg = tmp_path / name
    cfg.write_text(f"""
[database]
url = "sqlite:///{db}"
[state]
url = "sqlite:///{tmp_path / 'state.db'}"
[statsd]
enabled = false
[pagerduty]
events_url = "{pd.url}"
{body}""")
    return cfg


def _env(tmp_path: Path, tls: Tls, **extra: str) -> dict[str, str]:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    return {"SSL_CERT_FILE": str(ca), **extra}


def test_a_check_removed_then_put_back_while_failing_alerts_again(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer,
) -> None:
    env = _env(tmp_path, tls, PAGERDUTY_ROUTING_KEY=ROUTING_KEY)
    clock.settle()  # the runs share one billing week
    failing = _config(tmp_path, pagerduty_peer, {"refunds": 25, "other": 0}, "failing.toml")
    assert cli("--config", str(failing), "check", env=env).returncode == 2
    [alert] = pagerduty_peer.open_alerts()
    assert alert.dedup_key.startswith("billing/refunds/")
    without = _config(tmp_path, pagerduty_peer, {"other": 0}, "without.toml")
    assert cli("--config", str(without), "check", env=env).returncode == 0
    assert pagerduty_peer.open_alerts() == []  # removed: resolved
    assert cli("--config", str(failing), "check", env=env).returncode == 2
    # Back, and still failing: it pages again (it used to stay silent for good).
    assert [a.dedup_key for a in pagerduty_peer.open_alerts()] == [alert.dedup_key]
    assert [e["event_action"] for e in pagerduty_peer.events] == ["trigger", "resolve", "trigger"]
    assert len(pagerduty_peer.incidents) == 2  # a new incident, not the old one reopened


def test_a_notifier_configured_while_an_incident_is_open_hears_of_it(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer,
) -> None:
    clock.settle()
    cfg = _config(tmp_path, pagerduty_peer, {"refunds": 25})
    slack_only = _env(tmp_path, tls, SLACK_WEBHOOK_URL=slack_peer.webhook_url)
    assert cli("--config", str(cfg), "check", env=slack_only).returncode == 2
    assert len(slack_peer.messages) == 1 and pagerduty_peer.events == []
    both = {**slack_only, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY}
    assert cli("--config", str(cfg), "check", env=both).returncode == 2
    # PagerDuty, set up later, gets the open incident; Slack is not told twice.
    assert [a.dedup_key.split("/")[1] for a in pagerduty_peer.open_alerts()] == ["refunds"]
    assert len(slack_peer.messages) == 1
    fixed = _config(tmp_path, pagerduty_peer, {"refunds": 0}, "fixed.toml")
    assert cli("--config", str(fixed), "check", env=both).returncode == 0
    assert pagerduty_peer.open_alerts() == []  # the resolve went to both
    assert len(slack_peer.messages) == 2 and "RESOLVED" in str(slack_peer.messages[1])


def _on_host(host: str, *args: str, env: dict[str, str]) -> int:
    """`billing-monitor` as if on another host: its own UTS namespace."""
    exe = str(Path(sys.executable).parent / "billing-monitor")
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "BILLING_"))}
    full.update(clock.process_env())
    full.update(env)
    cmd = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, exe, *args]
    return subprocess.run(cmd, env=full, capture_output=True, timeout=120).returncode


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare to give a process another host name")
def test_two_hosts_sharing_a_state_store_never_resolve_each_others_incidents(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer,
) -> None:
    env = _env(tmp_path, tls, PAGERDUTY_ROUTING_KEY=ROUTING_KEY)
    clock.settle()
    eu = _config(tmp_path, pagerduty_peer, {"eu_refunds": 25}, "eu.toml")
    us = _config(tmp_path, pagerduty_peer, {"us_refunds": 25}, "us.toml")
    assert _on_host("monitor-eu", "--config", str(eu), "check", env=env) == 2
    assert _on_host("monitor-us", "--config", str(us), "check", env=env) == 2
    assert _on_host("monitor-eu", "--config", str(eu), "check", env=env) == 2
    assert sorted(a.dedup_key.split("/")[1] for a in pagerduty_peer.open_alerts()) == [
        "eu_refunds", "us_refunds"]
    # Each host still retires what leaves its own configuration.
    eu_empty = _config(tmp_path, pagerduty_peer, {"eu_other": 0}, "eu.toml")
    assert _on_host("monitor-eu", "--config", str(eu_empty), "check", env=env) == 0
    assert [a.dedup_key.split("/")[1] for a in pagerduty_peer.open_alerts()] == ["us_refunds"]
