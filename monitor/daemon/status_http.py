"""The status page's routes on the daemon's HTTP endpoint: `/` (the page),
`/api/status` (the same document as JSON), `/static/status.css` (and an
empty `/favicon.ico`).

Safe by default. On a loopback address the routes are open to this host; with
a credential (BILLING_MONITOR_STATUS_TOKEN, from the environment or the
systemd credential `billing_monitor_status_token`) every request must carry
it: `Authorization: Bearer <token>`, or basic auth whose password is the token
(or, when the token is `user:password`, exactly that pair). Served beyond
loopback without a credential, the routes answer 403: nobody may read them.
The credential is compared in constant time and never echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.resources import files
from typing import Any

from billing_monitor.alerting.status_doc import document_json
from billing_monitor.daemon.chart import ChartCache
from billing_monitor.daemon.page import CSP, render_page

log = logging.getLogger("billing_monitor.http")

TOKEN_ENV = "BILLING_MONITOR_STATUS_TOKEN"
Answer = tuple[int, str, bytes, dict[str, str]]
SECURITY = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
HTML, JSON = "text/html; charset=utf-8", "application/json"
TEXT = "text/plain; charset=utf-8"


def stylesheet() -> bytes:
    return files("billing_monitor.daemon").joinpath("static/status.css").read_bytes()


class Auth:
    """Who may read the status routes."""

    def __init__(self, token: str | None, loopback: bool) -> None:
        self._token = token or None
        self._open = loopback and not self._token
        self.refuse_all = not loopback and not self._token

    def allows(self, header: str | None) -> bool:
        if self._open:
            return True
        if self._token is None or not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode(), self._token.encode())
        if scheme.lower() != "basic":
            return False
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        password = pair.partition(":")[2]
        if ":" in self._token:
            return hmac.compare_digest(pair.encode(), self._token.encode())
        return hmac.compare_digest(password.encode(), self._token.encode())


class StatusPages:
    """Answers the status routes from `document()` (None: no state store)."""

    paths = frozenset({"/", "/api/status", "/static/status.css", "/favicon.ico"})

    def __init__(self, document: Callable[[], dict[str, Any] | None], auth: Auth,
                 clock: Callable[[], datetime]) -> None:
        self._document = document
        self._auth = auth
        self._clock = clock
        self._css = stylesheet()
        self._charts = ChartCache()

    def answer(self, path: str, headers: Mapping[str, str]) -> Answer | None:
        if path not in self.paths:
            return None
        if self._auth.refuse_all:
            return (403, TEXT, b"the status page is served beyond loopback without a "
                    b"credential: set " + TOKEN_ENV.encode() + b"\n", SECURITY)
        if not self._auth.allows(headers.get("authorization")):
            return (401, TEXT, b"credentials required\n",
                    {**SECURITY, "WWW-Authenticate": 'Basic realm="billing-monitor", '
                     'charset="UTF-8"'})
        if path == "/favicon.ico":  # browsers ask; no icon, and no error in their console
            return 204, TEXT, b"", SECURITY
        if path == "/static/status.css":
            return 200, "text/css; charset=utf-8", self._css, SECURITY
        doc = self._document()
        if doc is None:
            return (503, TEXT, b"no state store: the status is unknown (see the daemon's "
                    b"log and /healthz)\n", SECURITY)
        if path == "/api/status":
            return 200, JSON, document_json(doc).encode(), SECURITY
        return 200, HTML, render_page(doc, self._clock(), self._charts.svg).encode(), SECURITY

