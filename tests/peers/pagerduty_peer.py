"""A PagerDuty Events API v2 peer (POST /v2/enqueue), served over HTTPS
because the client library refuses http. It validates events as the real API
does (a little stricter: it rejects a summary over 1024 characters, which the
real one would cut), answers 202 with the dedup key, and keeps the alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.peers.http_peers import HttpPeer, Received, Reply, Tls, json_reply

PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class PdAlert:
    dedup_key: str
    status: str  # triggered | acknowledged | resolved
    severity: str
    summary: str
    payload: dict[str, Any]
    links: list[Any]
    events: list[str] = field(default_factory=list)


def _pd_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is missing or invalid")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' is invalid (a string of at most 255 characters)")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _pd_payload_errors(event.get("payload"))
    links = event.get("links", [])
    if not isinstance(links, list) or any(not isinstance(x, dict) or "href" not in x
                                          for x in links):
        errors.append("'links' must be a list of objects with 'href'")
    return errors


def _pd_payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary, source = payload.get("summary"), payload.get("source")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    if not isinstance(source, str) or not source:
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in PD_SEVERITIES:
        errors.append("'payload.severity' is invalid (critical, error, warning or info)")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(str(payload["timestamp"]))
        except ValueError:
            errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
    for key in ("component", "group", "class"):
        if key in payload and not isinstance(payload[key], str):
            errors.append(f"'payload.{key}' must be a string")
    if not isinstance(payload.get("custom_details", {}), dict | str):
        errors.append("'payload.custom_details' must be an object or a string")
    return errors


class PagerDutyPeer(HttpPeer):
    """POST /v2/enqueue. A trigger with the dedup key of an open alert updates
    it; a trigger after a resolve opens a new alert (an incident); resolve and
    acknowledge act on the open alert and are accepted (no-op) otherwise."""

    def __init__(self, tls: Tls) -> None:  # the client library insists on https
        self.alerts: dict[str, PdAlert] = {}  # latest alert per dedup key
        self.incidents: list[PdAlert] = []  # every alert ever opened, in order
        self.events: list[dict[str, Any]] = []  # accepted events
        super().__init__(tls)

    def incidents_for(self, dedup_key: str) -> list[PdAlert]:
        return [a for a in self.incidents if a.dedup_key == dedup_key]

    def open_alerts(self) -> list[PdAlert]:
        return [a for a in self.alerts.values() if a.status != "resolved"]

    def error_reply(self) -> Reply:
        return json_reply(500, {"status": "error", "message": "Internal server error"})

    def ratelimit_reply(self) -> Reply:
        return json_reply(429, {"status": "throttle event", "message": "Requests for this "
                                "service are arriving too quickly. Please retry later."},
                          {"Retry-After": self.retry_after})

    def malformed_reply(self) -> Reply:
        return 202, {"Content-Type": "text/html"}, b"<html>Event processed?</html>"

    def handle(self, req: Received) -> Reply:
        if req.path != "/v2/enqueue":
            return json_reply(404, {"status": "not found", "message": "Not found"})
        if req.method != "POST":
            return json_reply(405, {"status": "error", "message": "Method not allowed"})
        try:
            event = req.json()
        except ValueError:
            return self._invalid(["Could not parse the request body as JSON"])
        errors = _pd_errors(event)
        if errors:
            return self._invalid(errors)
        key = event.get("dedup_key") or uuid.uuid4().hex
        self.events.append(event)
        self._apply(event["event_action"], key, event)
        return json_reply(202, {"status": "success", "message": "Event processed",
                                "dedup_key": key})

    def _invalid(self, errors: list[str]) -> Reply:
        return json_reply(400, {"status": "invalid event", "message": "Event object is invalid",
                                "errors": errors})

    def _apply(self, action: str, key: str, event: dict[str, Any]) -> None:
        alert = self.alerts.get(key)
        is_open = alert is not None and alert.status != "resolved"
        if action == "trigger":
            p = event["payload"]
            if alert is None or not is_open:
                alert = PdAlert(key, "triggered", p["severity"], p["summary"], p,
                                event.get("links", []))
                self.alerts[key] = alert
                self.incidents.append(alert)
            else:
                alert.severity, alert.summary, alert.payload = p["severity"], p["summary"], p
                alert.links = event.get("links", alert.links)
        elif alert is not None and is_open:
            alert.status = "resolved" if action == "resolve" else "acknowledged"
        if alert is not None:
            alert.events.append(action)
