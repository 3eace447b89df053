"""What a paged engineer reads (issue 8): an alert names the tags of each
value that crossed, worst first, and every message stays within its
service's limits with a visible "and N more" (Google Chat refuses a message
over 32,000 bytes; PagerDuty's summary is 1,024 characters); PagerDuty's
client does not log a 429 as an ERROR."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing_monitor.alerts.contract import Notification, SinkError
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from tests.helpers import cli
from tests.peers.http_peers import Tls
from tests.peers.http_services import GoogleChatPeer, PagerDutyPeer, SlackPeer

ROUTING_KEY = "R0utingKeyForTheMessageTests000x"
# 500 rows, reason:r1 .. reason:r500 with value n: 498 of them over 2.
GROUPED = ("WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 500) "
           "SELECT 'r' || n AS reason, n AS value FROM seq")


@pytest.mark.clock
def test_a_grouped_check_with_500_failing_rows_reaches_every_channel(
    tmp_path: Path, tls: Tls, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer,
    google_chat_peer: GoogleChatPeer,
) -> None:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db}"\n[statsd]\nenabled = false\n'
                   f'[pagerduty]\nevents_url = "{pagerduty_peer.url}"\n'
                   f'[checks.declined]\ntype = "sql"\nquery = "{GROUPED}"\n'
                   "thresholds = { critical = 2 }\n")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls.ca_pem)
    env = {"SSL_CERT_FILE": str(ca), "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
           "SLACK_WEBHOOK_URL": slack_peer.webhook_url,
           "GOOGLE_CHAT_WEBHOOK_URL": google_chat_peer.webhook_url}
    r = cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2, r.stderr
    [alert] = pagerduty_peer.open_alerts()
    assert re.fullmatch(
        r"CRITICAL: billing declined \(\d{4}-W\d\d\): declined\{reason:r3\}=3 \(CRIT > 2\), "
        r"declined\{reason:r4\}=4 \(CRIT > 2\), .* and \d+ more", alert.summary), alert.summary
    assert len(alert.summary) <= 1024
    # 100 values in the details, crossing first; the other 400 counted.
    details = alert.payload["custom_details"]
    assert len(details["measurements"]) == 100
    assert details["measurements_omitted"] == {"values": 400, "crossing": 398}
    # Chat: 20 values shown, 480 counted (80 of the detailed ones + 400).
    [chat] = google_chat_peer.messages
    [slack] = slack_peer.messages
    for text in (chat["text"], slack["text"]):
        assert "declined{reason:r3} = 3 (crit: > 2)" in text
        assert "declined{reason:r23} = 23" not in text
        assert "… and 480 more values (478 of them crossing a threshold)" in text


def _note() -> Notification:
    return Notification(action="trigger", reason="open", dedup_key="billing/x/2026-W49",
                        check="x", severity="critical", summary="x is broken", source="host",
                        occurred_at=datetime(2026, 12, 2, tzinfo=UTC))


def test_a_429_from_pagerduty_is_not_logged_as_an_error(
    tls: Tls, pagerduty_peer: PagerDutyPeer, caplog: pytest.LogCaptureFixture,
) -> None:
    pd = PagerDutyNotifier(ROUTING_KEY, events_url=pagerduty_peer.url, max_attempts=2,
                           backoff_seconds=0.01, verify=tls.client)
    pagerduty_peer.set_fault("ratelimit")
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(SinkError) as raised:
            pd.deliver(_note())
    finally:
        pd.close()
    assert not raised.value.permanent and raised.value.retry_after is not None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
