"""A receiver of the signed webhook, as the documentation in signed_webhook.py
tells one to be written: POST /hooks/billing only, JSON only, a valid
signature over the raw body, a timestamp within 5 minutes of ITS clock
(injected), the body's version "1" with its required fields; 200 {"ok": true}
and one stored event per id (a retried delivery is acknowledged, not stored
twice). 401 for a bad signature or a stale timestamp, 400 for a bad body."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from billing_monitor.alerts.signed_webhook import EVENT_ID, SIGNATURE, TIMESTAMP, verify
from tests.peers.http_peers import HttpPeer, Received, Reply, Tls, json_reply

REQUIRED = {"version": str, "id": str, "action": str, "reason": str, "dedup_key": str,
            "check": str, "severity": str, "summary": str, "source": str,
            "occurred_at": str, "details": dict, "links": list}


class WebhookPeer(HttpPeer):
    def __init__(self, key: str, clock: Callable[[], float], tls: Tls | None = None) -> None:
        self.key, self.clock = key, clock
        self.events: dict[str, dict[str, Any]] = {}  # by id, in arrival order
        self.repeats = 0
        super().__init__(tls)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/billing"

    def handle(self, req: Received) -> Reply:
        if req.path != "/hooks/billing":
            return json_reply(404, {"error": "not found"})
        if req.method != "POST" or req.headers.get("content-type") != "application/json":
            return json_reply(415, {"error": "POST application/json only"})
        if not verify(self.key, req.headers.get(TIMESTAMP.lower(), ""), req.body,
                      req.headers.get(SIGNATURE.lower(), ""), self.clock()):
            return json_reply(401, {"error": "bad signature or stale timestamp"})
        try:
            event = json.loads(req.body)
        except ValueError:
            return json_reply(400, {"error": "not JSON"})
        bad = [k for k, t in REQUIRED.items() if not isinstance(event.get(k), t)]
        if bad or event["version"] != "1" or event["id"] != req.headers.get(EVENT_ID.lower()):
            return json_reply(400, {"error": f"bad event: {bad or 'version or id'}"})
        if event["id"] in self.events:
            self.repeats += 1
        else:
            self.events[event["id"]] = event
        return json_reply(200, {"ok": True})
