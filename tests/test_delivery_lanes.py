"""One channel never holds up another (issue 8): each channel is delivered in
its own lane, so a hanging PagerDuty costs Slack nothing and a hanging Google
Chat never delays a page; a delivery cut when the process ends is retried by
the next run at once. Real processes against the local peers."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.peers.http_peers import Tls
from tests.peers.http_services import GoogleChatPeer, PagerDutyPeer, SlackPeer

pytestmark = pytest.mark.clock  # starts the real process

ROUTING_KEY = "R0utingKeyForTheLaneTests000000x"


def _config(tmp_path: Path, checks: int, pd: PagerDutyPeer, extra: str = "") -> Path:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    body = "".join(f'[checks.c{i}]\ntype = "sql"\nquery = "SELECT 25"\n'
                   f"thresholds = {{ critical = 10 }}\n" for i in range(checks))
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{db}"
[statsd]
enabled = false
[outbox]
drain_seconds = 3
backoff_seconds = 0.5
backoff_max_seconds = 1
[pagerduty]
events_url = "{pd.url}"
client_timeout_seconds = 1
max_attempts = 1
[slack]
timeout_seconds = 1
[google_chat]
timeout_seconds = 1
{extra}
{body}""")
    return cfg


def _env(tmp_path: Path, tls: Tls, **urls: str) -> dict[str, str]:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    return {"PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "SSL_CERT_FILE": str(ca), **urls}


def test_a_hanging_pagerduty_never_holds_up_slack_and_is_retried_by_the_next_run(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer,
) -> None:
    cfg = _config(tmp_path, 3, pagerduty_peer)
    env = _env(tmp_path, tls, SLACK_WEBHOOK_URL=slack_peer.webhook_url)
    pagerduty_peer.set_fault("timeout")
    r = cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2, r.stderr
    # Three PagerDuty rows at 1 s each would have used the whole 3 s drain.
    assert len(slack_peer.messages) == 3
    assert pagerduty_peer.open_alerts() == []
    pagerduty_peer.set_fault("ok")
    pagerduty_peer.release()
    time.sleep(1.1)  # the backoff_max_seconds of the row that failed
    r = cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2, r.stderr
    # One timed out (retried after its backoff), one was cut in flight when the
    # first process ended (its holder is gone: due at once, no lease to wait
    # out), one was never tried: all three page now, and Slack hears nothing twice.
    open_keys = [a.dedup_key for a in pagerduty_peer.open_alerts()]
    assert sorted(k.rsplit("/", 1)[0] for k in open_keys) == [
        "billing/c0", "billing/c1", "billing/c2"]
    # Each open incident was told to Slack once. (When the two runs fall on
    # either side of a week boundary, the old week's incidents were resolved
    # and the new week's opened: each of those messages once too.)
    sent = [json.dumps(m, sort_keys=True) for m in slack_peer.messages]
    assert len(set(sent)) == len(sent)
    assert all(sum(key in m for m in sent) == 1 for key in open_keys), sent


def test_a_hanging_google_chat_never_delays_a_page(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer, google_chat_peer: GoogleChatPeer,
) -> None:
    cfg = _config(tmp_path, 6, pagerduty_peer)
    env = _env(tmp_path, tls, GOOGLE_CHAT_WEBHOOK_URL=google_chat_peer.webhook_url)
    google_chat_peer.set_fault("timeout")
    r = cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2, r.stderr
    assert len(pagerduty_peer.open_alerts()) == 6  # all six pages in the first run
    google_chat_peer.release()

