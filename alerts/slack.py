"""Slack incoming webhook: Block Kit blocks with a `text` fallback.

Slack answers 200 "ok"; 429 with Retry-After when rate limited; 400
invalid_payload, 403 invalid_token/action_prohibited, 404 no_service or
channel_not_found, 410 channel_is_archived (permanent: fix the webhook);
500 rollup_error and other 5xx (transient)."""

from __future__ import annotations

import ssl
from typing import Any

from billing_monitor.alerts.chat_format import RUNBOOK_TITLE, ChatPost, chat_post
from billing_monitor.alerts.contract import Notification
from billing_monitor.alerts.webhook import WebhookPoster

HEADER_LIMIT = 150  # plain_text in a header block
SECTION_LIMIT = 3000  # mrkdwn text in a section block


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_body(post: ChatPost) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(post.title, HEADER_LIMIT),
                                    "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": _cut(f"*{_escape(post.summary)}*", SECTION_LIMIT)}},
    ]
    if post.lines:
        facts = "\n".join(_escape(line) for line in post.lines)
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": _cut(facts, SECTION_LIMIT)}})
    if post.runbook:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            f"*{RUNBOOK_TITLE}*\n{_escape(post.runbook)}", SECTION_LIMIT)}})
    if post.links:
        links = " · ".join(f"<{href}|{_escape(text)}>" for href, text in post.links)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": links}})
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": _escape(post.footer)}]})
    return {"text": post.text, "blocks": blocks}


class SlackNotifier:
    name = "slack"

    def __init__(self, webhook_url: str, *, timeout: float,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._poster = WebhookPoster("Slack", webhook_url, timeout=timeout, verify=verify)
        self.max_seconds = self._poster.max_seconds

    def deliver(self, notification: Notification) -> None:
        response = self._poster.post(slack_body(chat_post(notification)))
        if response.text.strip() != "ok":
            raise self._poster.malformed(response, '"ok"')

    def close(self) -> None:
        self._poster.close()
