"""Slack and Google Chat notifiers against local webhook peers, in every fault
mode; what the post says; one Google Chat thread per incident."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from billing_monitor.alerts.chat_format import chat_post
from billing_monitor.alerts.contract import Notification, Notifier, SinkError
from billing_monitor.alerts.google_chat import GoogleChatNotifier
from billing_monitor.alerts.slack import SlackNotifier, slack_body
from billing_monitor.alerts.webhook import retry_after, scrub
from tests.peers.http_peers import Fault, HttpPeer, Tls
from tests.peers.http_services import GoogleChatPeer, SlackPeer

KEY = "billing/unbilled_orders/2026-W47"


def note(reason: str = "open", **kw: Any) -> Notification:
    base: dict[str, Any] = dict(
        action="resolve" if reason == "resolve" else "trigger", reason=reason, dedup_key=KEY,
        check="unbilled_orders", severity="critical",
        summary="12 unbilled orders this week (critical above 10)", source="billing-monitor",
        occurred_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        custom_details={"status": "CRIT", "period": "2026-W47", "measurements": [
            {"name": "unbilled_orders", "value": 12.0, "status": "CRIT", "threshold": "> 10",
             "samples": [f"ord_{i}" for i in range(1, 13)]}]},
        links=(("https://runbooks.example/unbilled", "Runbook"),),
    )
    return Notification(**{**base, **kw})


def test_post_text_is_readable_at_3am() -> None:
    text = chat_post(note()).text
    assert text.splitlines()[0].endswith("ALERT [critical]: unbilled_orders")
    assert "Status: CRIT (period 2026-W47)" in text
    assert "unbilled_orders = 12 (crit: > 10)" in text
    assert "sample ids: ord_1, ord_2, ord_3, ord_4, ord_5, ord_6, ord_7, ord_8, ord_9, " \
           "ord_10 and 2 more" in text
    assert "Runbook: https://runbooks.example/unbilled" in text
    assert KEY in text
    assert chat_post(note("resolve")).title.endswith("RESOLVED: unbilled_orders")
    assert "TEST ONLY — please ignore" in chat_post(note("test")).title


# A healthy local delivery never nears this on a loaded machine; only the
# "timeout" fault, where the peer never answers, uses a short one.
TIMEOUT = 10.0
# What the on-call engineer reads for note(), written out by hand from the
# README's promise: what happened, the check, status and period, the value
# against its threshold, up to 10 ids, the runbook and the dedup key.
ALERT_TEXT = "\n".join([
    "🔴 ALERT [critical]: unbilled_orders",
    "12 unbilled orders this week (critical above 10)",
    "Status: CRIT (period 2026-W47)",
    "unbilled_orders = 12 (crit: > 10)",
    "  sample ids: ord_1, ord_2, ord_3, ord_4, ord_5, ord_6, ord_7, ord_8, ord_9, ord_10 "
    "and 2 more",
    "Runbook: https://runbooks.example/unbilled",
    "dedup key billing/unbilled_orders/2026-W47 · 2026-11-22T03:00:00+00:00 · billing-monitor",
])


def slack(peer: SlackPeer, tls: Tls | None = None, timeout: float = TIMEOUT) -> SlackNotifier:
    return SlackNotifier(peer.webhook_url, timeout=timeout, verify=tls.client if tls else True)


def gchat(peer: GoogleChatPeer, timeout: float = TIMEOUT) -> GoogleChatNotifier:
    return GoogleChatNotifier(peer.webhook_url, timeout=timeout)


def test_slack_posts_blocks_with_a_text_fallback(slack_peer: SlackPeer) -> None:
    slack(slack_peer).deliver(note())
    (msg,) = slack_peer.messages
    assert msg["text"] == ALERT_TEXT
    kinds = [b["type"] for b in msg["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context"]
    assert "<https://runbooks.example/unbilled|Runbook>" in msg["blocks"][3]["text"]["text"]


def test_slack_limits_block_sizes(slack_peer: SlackPeer) -> None:
    slack(slack_peer).deliver(note(check="c" * 300, summary="s" * 5000))
    assert len(slack_peer.messages) == 1  # the peer rejects oversized blocks with 400


# A runbook of 25 lines of 60 characters (1,525 with the line breaks), written
# with what Slack's mrkdwn and Google Chat's HTML would read as markup.
RUNBOOK = "\n".join(f"{i:02d}. check <billing> & retry; call finance if > 10 unbilled." + "-" * 3
                     for i in range(25))


@pytest.mark.parametrize("n", [
    note(),
    note("resolve"),
    note(check="c" * 300, summary="s" * 5000),
    note(custom_details={"status": "CRIT", "runbook": RUNBOOK * 3, "error": "e" * 9000,
                         "measurements": [{"name": f"m{i}", "value": i, "status": "CRIT",
                                           "threshold": "> 1", "samples": ["x" * 300] * 12}
                                          for i in range(40)]}),
], ids=["alert", "resolve", "oversized", "everything-long"])
def test_slack_bodies_pass_slack_sdks_block_kit_models(n: Notification) -> None:
    """Slack's own SDK (its Block Kit models and their limits), not our peer's
    idea of them: every block parses as the kind it says and validates."""
    body = slack_body(chat_post(n))
    blocks = Block.parse_all(body["blocks"])
    assert len(blocks) == len(body["blocks"]) <= 50
    for raw, block in zip(body["blocks"], blocks, strict=True):
        assert block is not None and block.type == raw["type"]
        block.validate_json()  # raises SlackObjectFormationError past a limit
    assert body["text"]


def test_a_long_runbook_reaches_slack_and_google_chat_whole(
        slack_peer: SlackPeer, google_chat_peer: GoogleChatPeer) -> None:
    n = note(custom_details={**note().custom_details, "runbook": RUNBOOK})
    slack(slack_peer).deliver(n)
    gchat(google_chat_peer).deliver(n)
    (msg,) = slack_peer.messages
    escaped = RUNBOOK.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"*What to do*\n{escaped}"}} in msg["blocks"]
    assert f"What to do: {RUNBOOK}" in msg["text"]
    (card,) = google_chat_peer.messages
    widgets = card["cardsV2"][0]["card"]["sections"][0]["widgets"]
    html = escaped.replace("\n", "<br>")
    assert {"textParagraph": {"text": f"<b>What to do</b><br>{html}"}} in widgets
    # Longer than a chat post shows: cut, and the cut said.
    long = chat_post(note(custom_details={"runbook": "r" * 5000}))
    assert long.runbook == "r" * 1999 + "…"


def test_slack_over_https(tls: Tls) -> None:
    peer = SlackPeer(tls)
    try:
        slack(peer, tls).deliver(note())
    finally:
        peer.close()
    assert peer.webhook_url.startswith("https://") and len(peer.messages) == 1


def test_google_chat_keeps_one_thread_per_incident(google_chat_peer: GoogleChatPeer) -> None:
    gc = gchat(google_chat_peer)
    for reason in ("open", "escalate", "resolve"):
        gc.deliver(note(reason))
    gc.deliver(note(dedup_key="billing/other_check"))
    first, escalate, resolve, other = google_chat_peer.messages
    assert google_chat_peer.thread_of(first) == google_chat_peer.thread_of(escalate) \
        == google_chat_peer.thread_of(resolve) != google_chat_peer.thread_of(other)
    assert first["thread"]["threadKey"] == KEY
    card = first["cardsV2"][0]["card"]
    assert card["header"]["title"] == "🔴 ALERT [critical]: unbilled_orders"
    button = card["sections"][0]["widgets"][-1]["buttonList"]["buttons"][0]
    assert button["onClick"]["openLink"]["url"] == "https://runbooks.example/unbilled"
    assert google_chat_peer.requests[0].param("messageReplyOption") == \
        "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


Case = tuple[Callable[[], HttpPeer], Callable[[Any, float], Notifier], Callable[[Any], str]]
CASES: dict[str, Case] = {
    "slack": (SlackPeer, lambda p, t: slack(p, timeout=t), lambda p: p.token),
    "google_chat": (GoogleChatPeer, gchat, lambda p: p.token),
}


@pytest.mark.parametrize("service", CASES)
@pytest.mark.parametrize(("fault", "permanent", "wait"), [
    ("refused", False, None), ("timeout", False, None), ("error", False, None),
    ("ratelimit", False, 7.0), ("malformed", False, None),
])
def test_faults(service: str, fault: Fault, permanent: bool, wait: float | None,
                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    make_peer, make_notifier, secret = CASES[service]
    peer = make_peer()
    peer.hang_seconds = 30.0  # "timeout": never answers until the peer is closed
    try:
        notifier = make_notifier(peer, 0.5 if fault == "timeout" else TIMEOUT)
        peer.set_fault(fault)
        with pytest.raises(SinkError) as info:
            notifier.deliver(note())
    finally:
        peer.close()
    assert (info.value.permanent, info.value.retry_after) == (permanent, wait)
    _secret_free(str(info.value), caplog, secret(peer))


def test_slack_wrong_token_and_no_service_are_permanent(slack_peer: SlackPeer) -> None:
    bad = SlackNotifier(slack_peer.webhook_url.replace(slack_peer.token, "revokedtoken123"),
                        timeout=TIMEOUT)
    with pytest.raises(SinkError) as info:
        bad.deliver(note())
    assert info.value.permanent and str(info.value) == "Slack: HTTP 403: invalid_token"
    gone = SlackNotifier(f"{slack_peer.url}/hooks/nothing", timeout=TIMEOUT)
    with pytest.raises(SinkError) as info:
        gone.deliver(note())
    assert info.value.permanent and "404: no_service" in str(info.value)


def test_google_chat_bad_token_is_permanent_and_not_shown(
        google_chat_peer: GoogleChatPeer, caplog: pytest.LogCaptureFixture) -> None:
    url = google_chat_peer.webhook_url.replace(google_chat_peer.token, "wrong-token-secret-42")
    with pytest.raises(SinkError) as info:
        GoogleChatNotifier(url, timeout=TIMEOUT).deliver(note())
    assert info.value.permanent and "HTTP 401" in str(info.value)
    _secret_free(str(info.value), caplog, "wrong-token-secret-42")


def _secret_free(text: str, caplog: pytest.LogCaptureFixture, secret: str) -> None:
    assert secret not in text
    assert all(secret not in r.getMessage() for r in caplog.records)


def test_scrub_removes_the_url_and_its_credential_parts() -> None:
    url = "https://chat.example/v1/spaces/S/messages?key=K123456789&token=T%3D987654321"
    text = f"POST {url} failed; token=T=987654321 path /v1/spaces/S/messages"
    out = scrub(text, [url])
    assert "987654321" not in out and "K123456789" not in out and "<redacted>" in out


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "30"}, now) == 30.0
    assert retry_after({"retry-after": "Sun, 22 Nov 2026 03:01:00 GMT"}, now) == 60.0
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({}, now) is None


def test_no_webhook_url_in_httpx_request_logs(slack_peer: SlackPeer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack(slack_peer).deliver(note())
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines and all("HTTP Request: POST http://127.0.0.1:" in line for line in lines)
    _secret_free("", caplog, slack_peer.token)


def test_the_alert_engines_details_render_without_repeating_the_title() -> None:
    details = {"check": "unbilled_orders", "status": "WARN", "period": "2026-W47",
               "reason": "escalate", "env": "production", "thresholds": "warn > 5, crit > 10",
               "measurements": [{"name": "unbilled_orders", "value": 7, "tags": [],
                                 "status": "WARN", "threshold": "> 5", "samples": []}]}
    post = chat_post(note("escalate", custom_details=details, severity="warning"))
    assert post.title.endswith("ESCALATED [warning]: unbilled_orders")
    assert post.lines == ("Status: WARN (period 2026-W47)", "unbilled_orders = 7 (warn: > 5)",
                          "env: production", "thresholds: warn > 5, crit > 10")
