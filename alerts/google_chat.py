"""Google Chat incoming webhook: a cardsV2 card with a `text` fallback, one
thread per incident (`thread.threadKey` = the dedup key, and
messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD so that the first post
opens the thread and later ones reply in it).

The webhook URL holds `key` and `token` query parameters: it is a secret."""

from __future__ import annotations

import html
import json
import ssl
from dataclasses import replace
from typing import Any

from billing_monitor.alerts.chat_format import RUNBOOK_TITLE, ChatPost, chat_post
from billing_monitor.alerts.contract import Notification
from billing_monitor.alerts.webhook import WebhookPoster, add_query

REPLY_OPTION = ("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
# "The maximum message size, including any text or cards, is 32,000 bytes"
# (developers.google.com/workspace/chat/create-messages). A bigger one is
# refused with 400, which no retry can fix.
MAX_BYTES = 32_000


def fitted(post: ChatPost, thread_key: str, card_id: str) -> dict[str, Any]:
    """The body, with facts dropped from the end (and the cut said) until it
    fits Google Chat's size limit. Measured as ASCII-escaped JSON with spaces,
    never smaller than what httpx sends."""
    body = google_chat_body(post, thread_key, card_id)
    lines = list(post.lines)
    while len(json.dumps(body).encode()) > MAX_BYTES and lines:
        del lines[-max(1, len(lines) // 8):]
        cut = (*lines, "… (cut to fit Google Chat's 32,000-byte message limit)")
        body = google_chat_body(replace(post, lines=cut), thread_key, card_id)
    return body


def google_chat_body(post: ChatPost, thread_key: str, card_id: str) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = [
        {"textParagraph": {"text": f"<b>{html.escape(post.summary)}</b>"}},
    ]
    if post.lines:
        facts = "<br>".join(html.escape(line) for line in post.lines)
        widgets.append({"textParagraph": {"text": facts}})
    if post.runbook:
        what = html.escape(post.runbook).replace("\n", "<br>")
        widgets.append({"textParagraph": {"text": f"<b>{RUNBOOK_TITLE}</b><br>{what}"}})
    if post.links:
        widgets.append({"buttonList": {"buttons": [
            {"text": text, "onClick": {"openLink": {"url": href}}} for href, text in post.links
        ]}})
    return {
        "text": post.text,
        "cardsV2": [{
            "cardId": card_id,
            "card": {
                "header": {"title": post.title, "subtitle": post.footer},
                "sections": [{"widgets": widgets}],
            },
        }],
        "thread": {"threadKey": thread_key},
    }


class GoogleChatNotifier:
    name = "google_chat"

    def __init__(self, webhook_url: str, *, timeout: float,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._poster = WebhookPoster("Google Chat", add_query(webhook_url, *REPLY_OPTION),
                                     timeout=timeout, verify=verify)
        self.max_seconds = self._poster.max_seconds

    def deliver(self, notification: Notification) -> None:
        body = fitted(chat_post(notification), notification.dedup_key,
                      card_id=f"{notification.reason}-{notification.check}")
        response = self._poster.post(body)
        try:
            message = response.json()
        except ValueError:
            raise self._poster.malformed(response, "a JSON message") from None
        if not isinstance(message, dict) or "name" not in message:
            raise self._poster.malformed(response, "a JSON message")

    def close(self) -> None:
        self._poster.close()
