"""Google Chat incoming webhook: a cardsV2 card with a `text` fallback, one
thread per incident (`thread.threadKey` = the dedup key, and
messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD so that the first post
opens the thread and later ones reply in it).

The webhook URL holds `key` and `token` query parameters: it is a secret."""

from __future__ import annotations

import html
import ssl
from typing import Any

from alerts.base import Notification
from alerts.chat_format import ChatPost, chat_post
from alerts.webhook import WebhookPoster, add_query

REPLY_OPTION = ("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")


def google_chat_body(post: ChatPost, thread_key: str, card_id: str) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = [
        {"textParagraph": {"text": f"<b>{html.escape(post.summary)}</b>"}},
    ]
    if post.lines:
        facts = "<br>".join(html.escape(line) for line in post.lines)
        widgets.append({"textParagraph": {"text": facts}})
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
        body = google_chat_body(chat_post(notification), notification.dedup_key,
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
