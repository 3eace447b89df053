"""A Teams Workflows webhook peer: POST /workflows/ID/triggers/manual/paths/invoke
?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIG, as Power
Automate's "When a Teams webhook request is received" trigger answers it: 202
Accepted with no body; 401 for a missing or wrong `sig`; 400 for a body that
is not JSON; 413 over 28 KB. It is stricter than the trigger in one way: a
card the "Post card in a chat or channel" step would fail on (not a message
with an Adaptive Card attachment, or a card that breaks Microsoft's published
Adaptive Card 1.5 schema, vendored beside this file) is refused with 400 here,
where the real flow accepts it and fails later, out of our sight.

adaptive-card-1.5.0.json is schemas/1.5.0/adaptive-card.json of
github.com/microsoft/AdaptiveCards at 644d933e185a8482c4dcf4c375d177aac37fd095,
unchanged (JSON Schema draft-06; the highest card version Teams renders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator

from tests.peers.http_peers import HttpPeer, Received, Reply, Tls, json_reply

SCHEMA = json.loads((Path(__file__).parent / "adaptive-card-1.5.0.json").read_text("utf-8"))
VALIDATOR = Draft6Validator(SCHEMA)
MAX_BYTES = 28_000
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def card_errors(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["the body is not a message ({\"type\": \"message\", ...})"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["'attachments' is missing or empty"]
    errors = []
    for i, a in enumerate(attachments):
        if not isinstance(a, dict) or a.get("contentType") != CARD_TYPE:
            errors.append(f"attachments[{i}].contentType is not {CARD_TYPE}")
            continue
        content = a.get("content")
        if not isinstance(content, dict) or content.get("version") not in (
                "1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
            errors.append(f"attachments[{i}].content: not an Adaptive Card of version <= 1.5")
            continue
        errors += [f"attachments[{i}].content: {e.message}"
                   for e in VALIDATOR.iter_errors(content)]
    return errors


class TeamsPeer(HttpPeer):
    def __init__(self, tls: Tls | None = None, sig: str = "Sg0ne-secret-signature_0123") -> None:
        self.sig = sig
        self.workflow = "0a1b2c3d4e5f"
        self.messages: list[dict[str, Any]] = []
        super().__init__(tls)

    @property
    def webhook_url(self) -> str:
        return (f"{self.url}/workflows/{self.workflow}/triggers/manual/paths/invoke"
                f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}")

    def cards(self) -> list[dict[str, Any]]:
        return [m["attachments"][0]["content"] for m in self.messages]

    def _error(self, status: int, code: str, message: str) -> Reply:
        return json_reply(status, {"error": {"code": code, "message": message}})

    def error_reply(self) -> Reply:
        return self._error(500, "InternalServerError", "The server encountered an error.")

    def ratelimit_reply(self) -> Reply:
        return json_reply(429, {"error": {"code": "WorkflowRequestsThrottled",
                                          "message": "Rate limit is exceeded."}},
                          {"Retry-After": self.retry_after})

    def handle(self, req: Received) -> Reply:
        if req.path != f"/workflows/{self.workflow}/triggers/manual/paths/invoke":
            return self._error(404, "WorkflowNotFound", "The workflow was not found.")
        if req.method != "POST":
            return self._error(405, "MethodNotAllowed", "Only POST is allowed.")
        if req.param("sig") != self.sig:
            return self._error(401, "DirectApiInvalidAuthorizationSignature",
                               "The provided authorization signature is not valid.")
        if len(req.body) > MAX_BYTES:
            return self._error(413, "MessageTooLarge", "The message size limit is 28 KB.")
        try:
            body = req.json()
        except ValueError:
            return self._error(400, "InvalidRequestContent", "The request content is not "
                               "valid JSON.")
        errors = card_errors(body)
        if errors:
            return self._error(400, "InvalidAdaptiveCard", "; ".join(errors[:5]))
        self.messages.append(body)
        return 202, {}, b""
