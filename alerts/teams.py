"""Microsoft Teams through a Workflows webhook (Power Automate's "When a
Teams webhook request is received" trigger; the Office 365 connectors are
retired). The body is a message with one Adaptive Card attachment:

    {"type": "message", "attachments": [{"contentType":
     "application/vnd.microsoft.card.adaptive", "contentUrl": null,
     "content": {"type": "AdaptiveCard", "version": "1.5", ...}}]}

Limits (Microsoft Learn, "Create an Incoming Webhook" / Workflows): "The
message size limit is 28 KB. When the size exceeds 28 KB, you receive an
error", read as 28,000 bytes, the stricter reading; more than four requests a
second are throttled (429). Teams renders Adaptive Cards up to version 1.5.
Text the check or the database produced goes into RichTextBlock TextRuns,
which Teams shows as plain text (a TextBlock would read `_` and `*` as
Markdown). The trigger answers 202 Accepted with no body; anything else that
is 2xx is not the trigger (a proxy's page) and is retried.

The URL holds the trigger's `sig` query parameter: it is a secret."""

from __future__ import annotations

import json
import ssl
from dataclasses import replace
from typing import Any

from billing_monitor.alerts.chat_format import RUNBOOK_TITLE, ChatPost, chat_post
from billing_monitor.alerts.contract import Notification
from billing_monitor.alerts.webhook import WebhookPoster

CARD_VERSION = "1.5"
MAX_BYTES = 28_000
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Adaptive Card colours by reason: Attention (red), Warning, Good (green).
COLORS = {"open": "Attention", "escalate": "Attention", "deescalate": "Warning",
          "renotify": "Attention", "resolve": "Good", "degraded": "Warning", "test": "Accent"}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def card(post: ChatPost, color: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(post.title, weight="Bolder", size="Medium", color=color),
        _text(post.summary, weight="Bolder"),
    ]
    body += [{**_text(line), "spacing": "None"} for line in post.lines]
    if post.runbook:
        body.append(_text(RUNBOOK_TITLE, weight="Bolder"))
        body += [{**_text(line), "spacing": "None"}
                 for line in post.runbook.splitlines() if line.strip()]
    body.append({**_text(post.footer, isSubtle=True, size="Small"), "separator": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": CARD_VERSION, "body": body,
        "fallbackText": post.text,
    }
    if post.links:
        content["actions"] = [{"type": "Action.OpenUrl", "title": text, "url": href}
                              for href, text in post.links]
    return {"type": "message",
            "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": content}]}


def fitted(post: ChatPost, color: str) -> dict[str, Any]:
    """Facts dropped from the end, and the cut said, until the message fits
    28,000 bytes as sent (compact JSON, ASCII-escaped: never smaller than httpx's)."""
    body = card(post, color)
    lines = list(post.lines)
    while len(json.dumps(body).encode()) > MAX_BYTES and lines:
        del lines[-max(1, len(lines) // 8):]
        cut = (*lines, "… (cut to fit Teams' 28 KB message limit)")
        body = card(replace(post, lines=cut), color)
    return body


class TeamsNotifier:
    name = "teams"

    def __init__(self, webhook_url: str, *, timeout: float,
                 verify: ssl.SSLContext | bool = True, name: str = "teams") -> None:
        self.name = name
        self._poster = WebhookPoster("Teams", webhook_url, timeout=timeout, verify=verify)
        self.max_seconds = self._poster.max_seconds

    def deliver(self, notification: Notification) -> None:
        post = chat_post(notification)
        response = self._poster.post(fitted(post, COLORS[notification.reason]))
        if response.status_code != 202:
            raise self._poster.malformed(response, "202 Accepted")

    def close(self) -> None:
        self._poster.close()
