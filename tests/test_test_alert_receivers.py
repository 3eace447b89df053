"""`billing-monitor test-alert receivers`: a labelled test event, then its
resolve, to every configured receiver: here a Teams Workflows webhook and a
signed webhook, on their peers; one that fails is reported, not hidden."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from billing_monitor.alerts.config import Secrets
from billing_monitor.commands.send_test import TestAlert
from billing_monitor.settings.load import parse_settings
from tests.peers.http_peers import Tls
from tests.peers.teams_peer import TeamsPeer
from tests.peers.webhook_peer import WebhookPeer

NOW = datetime(2026, 11, 26, 5, 30, tzinfo=UTC)
KEY = "hook-signing-key-0123456789"


def test_test_alert_reaches_every_receiver_and_says_which_failed(tls: Tls) -> None:
    teams, hook = TeamsPeer(tls), WebhookPeer(KEY, clock=lambda: NOW.timestamp(), tls=tls)
    try:
        raw = {"checks": {"failed_charges": {}},
               "receivers": {"chat": {"kind": "teams", "secret_env": "TEAMS_URL"},
                             "hook": {"kind": "webhook", "secret_env": "HOOK_KEY",
                                      "url": hook.hook_url}},
               "routing": {"default": ["chat", "hook"]}}
        env = {"TEAMS_URL": teams.webhook_url, "HOOK_KEY": KEY}
        settings = parse_settings(raw, "t.toml", env)
        out = io.StringIO()
        hook.set_fault("error")
        code = TestAlert(settings, Secrets.from_env(env), out, verify=tls.client,
                         now=lambda: NOW, env=env).run("receivers")
        assert code == 69
        assert len(teams.messages) == 2  # the test event and its resolve
        assert "TEST ONLY" in str(teams.cards()[0])
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("chat: sent test event") and lines[1] == "chat: resolved it"
        assert lines[2].startswith("hook: FAILED to send the test event (transient): "
                                   "webhook: HTTP 500")
        assert KEY not in out.getvalue() and teams.sig not in out.getvalue()
    finally:
        teams.close()
        hook.close()
