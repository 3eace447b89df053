"""Slack and Google Chat webhooks and Healthchecks.io pings as local peers
(the faults are in http_peers.py; the PagerDuty peer, in pagerduty_peer.py, is
re-exported here). Each validates what the real service validates, answers
with the documented bodies, and keeps state for assertions."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from tests.peers.http_peers import HttpPeer, Received, Reply, Tls, json_reply, text_reply
from tests.peers.pagerduty_peer import PagerDutyPeer, PdAlert

__all__ = ["GoogleChatPeer", "HealthchecksPeer", "PagerDutyPeer", "PdAlert", "Ping", "SlackPeer"]


class SlackPeer(HttpPeer):
    """An incoming webhook at /services/T…/B…/TOKEN: 200 "ok", or Slack's
    error strings (400 invalid_payload/invalid_blocks, 403 invalid_token,
    404 no_service)."""

    def __init__(self, tls: Tls | None = None, token: str = "xoxwebhooksecret0123456789") -> None:
        self.token = token
        self.messages: list[dict[str, Any]] = []
        super().__init__(tls)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/services/T0000001/B0000001/{self.token}"

    def error_reply(self) -> Reply:
        return text_reply(500, "rollup_error")

    def ratelimit_reply(self) -> Reply:
        return text_reply(429, "rate_limited", {"Retry-After": self.retry_after})

    def handle(self, req: Received) -> Reply:
        if not req.path.startswith("/services/"):
            return text_reply(404, "no_service")
        if req.path != f"/services/T0000001/B0000001/{self.token}":
            return text_reply(403, "invalid_token")
        try:
            body = req.json()
        except ValueError:
            return text_reply(400, "invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return text_reply(400, "no_text")
        if not _blocks_valid(body.get("blocks", [])):
            return text_reply(400, "invalid_blocks")
        self.messages.append(body)
        return text_reply(200, "ok")


def _blocks_valid(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for b in blocks:
        text = b.get("text", {}) if isinstance(b, dict) else None
        if not isinstance(text, dict):
            return False
        limit = 150 if b.get("type") == "header" else 3000
        if len(text.get("text", "")) > limit:
            return False
    return True


class GoogleChatPeer(HttpPeer):
    """POST /v1/spaces/SPACE/messages?key=…&token=…: 200 with the created
    message. With messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD a
    `thread.threadKey` seen before replies in that thread; otherwise every
    message starts a new thread."""

    OPTIONS = ("MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
               "REPLY_MESSAGE_OR_FAIL")
    # developers.google.com/workspace/chat/create-messages: "The maximum message
    # size, including any text or cards, is 32,000 bytes."
    MAX_BYTES = 32_000

    def __init__(self, tls: Tls | None = None, key: str = "AIzaSyDdIkey0000",
                 token: str = "chat-token-secret-0123456789") -> None:
        self.key, self.token, self.space = key, token, "AAAAspace01"
        self.messages: list[dict[str, Any]] = []
        self._threads: dict[str, str] = {}
        self._ids = itertools.count(1)
        super().__init__(tls)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/v1/spaces/{self.space}/messages?key={self.key}&token={self.token}"

    def thread_of(self, message: dict[str, Any]) -> str:
        return str(message["thread"]["name"])

    def error_reply(self) -> Reply:
        return json_reply(500, {"error": {"code": 500, "message": "Internal error encountered.",
                                          "status": "INTERNAL"}})

    def ratelimit_reply(self) -> Reply:
        return json_reply(429, {"error": {"code": 429, "message": "Resource has been exhausted",
                                          "status": "RESOURCE_EXHAUSTED"}},
                          {"Retry-After": self.retry_after})

    def _error(self, code: int, status: str, message: str) -> Reply:
        return json_reply(code, {"error": {"code": code, "message": message, "status": status}})

    def handle(self, req: Received) -> Reply:
        if req.path != f"/v1/spaces/{self.space}/messages":
            return self._error(404, "NOT_FOUND", "Requested entity was not found.")
        if req.param("key") != self.key:
            return self._error(400, "INVALID_ARGUMENT", "API key not valid.")
        if req.param("token") != self.token:
            return self._error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        option = req.param("messageReplyOption") or "MESSAGE_REPLY_OPTION_UNSPECIFIED"
        if option not in self.OPTIONS:
            return self._error(400, "INVALID_ARGUMENT", "Invalid messageReplyOption.")
        try:
            body = req.json()
        except ValueError:
            return self._error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict) or not (body.get("text") or body.get("cardsV2")):
            return self._error(400, "INVALID_ARGUMENT", "Message cannot be empty.")
        if len(req.body) > self.MAX_BYTES:  # "The maximum message size, including text or cards"
            return self._error(400, "INVALID_ARGUMENT",
                               f"Message exceeds the maximum size of {self.MAX_BYTES} bytes.")
        thread_key = (body.get("thread") or {}).get("threadKey")
        n = next(self._ids)
        if option != "MESSAGE_REPLY_OPTION_UNSPECIFIED" and thread_key:
            thread = self._threads.setdefault(thread_key, f"spaces/{self.space}/threads/t{n}")
        else:
            thread = f"spaces/{self.space}/threads/t{n}"
        message = {"name": f"spaces/{self.space}/messages/m{n}", "text": body.get("text", ""),
                   "cardsV2": body.get("cardsV2", []), "space": {"name": f"spaces/{self.space}"},
                   "thread": {"name": thread, **({"threadKey": thread_key} if thread_key else {})},
                   "createTime": "2026-11-22T03:00:00.000000Z"}
        self.messages.append(message)
        return json_reply(200, message)


@dataclass(frozen=True)
class Ping:
    kind: str  # start | success | fail | log | exit code
    rid: str | None
    body: str
    method: str


class HealthchecksPeer(HttpPeer):
    """/{uuid}, /{uuid}/start, /{uuid}/fail, /{uuid}/log, /{uuid}/{0-255}:
    200 "OK"; 404 "not found" for an unknown check; 400 for a rid that is
    not a UUID."""

    def __init__(self, tls: Tls | None = None) -> None:
        self.check_uuid = str(uuid.uuid4())
        self.pings: list[Ping] = []
        super().__init__(tls)

    @property
    def ping_url(self) -> str:
        return f"{self.url}/{self.check_uuid}"

    def handle(self, req: Received) -> Reply:
        parts = req.path.strip("/").split("/")
        if parts[0] != self.check_uuid or len(parts) > 2:
            return text_reply(404, "not found")
        kind = parts[1] if len(parts) == 2 else "success"
        if kind not in ("start", "fail", "log") and not (kind == "success" or kind.isdigit()):
            return text_reply(404, "not found")
        rid = req.param("rid")
        if rid is not None:
            try:
                uuid.UUID(rid)
            except ValueError:
                return text_reply(400, "invalid uuid format for rid")
        self.pings.append(Ping(kind, rid, req.body.decode("utf-8", "replace"), req.method))
        return text_reply(200, "OK")
