"""The status page's routes on the daemon's HTTP endpoint: `/` (the page),
`/chart/<check>.svg` (its charts), `/api/status` (the same document as
JSON), `/static/status.css` (and an empty `/favicon.ico`).

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
import gzip
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import unquote

from billing_monitor.alerting.status_doc import document_json
from billing_monitor.daemon.chart import ChartCache, check_chart
from billing_monitor.daemon.page import CSP, render_page

log = logging.getLogger("billing_monitor.http")

TOKEN_ENV = "BILLING_MONITOR_STATUS_TOKEN"
Answer = tuple[int, str, bytes, dict[str, str]]
SECURITY = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
VARY = {"Vary": "Accept-Encoding"}
ZIPPED = {"Content-Encoding": "gzip", **VARY}
CHARTS = "/chart/"  # + the check's name, URL-quoted, + ".svg" (page.chart_path)
SVG = "image/svg+xml"
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


class Rendered:
    """One document as it is served, built at most once per `max_age` seconds
    (monotonic) however many people and refreshes ask; its page, its JSON and
    their gzipped forms each encoded when first asked for, then kept with it.
    The page then costs a dictionary look-up, not a build (docs/benchmarks.md
    section 9); it is at most `max_age` behind the store."""

    def __init__(self, document: Callable[[], dict[str, Any] | None],
                 clock: Callable[[], datetime], max_age: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._document = document
        self._clock = clock
        self._max_age = max_age
        self._monotonic = monotonic
        self._charts = ChartCache()
        self._lock = threading.Lock()  # one build at a time; the others wait for it
        self._built_at: float | None = None
        self._doc: dict[str, Any] | None = None
        self._bodies: dict[tuple[str, bool], bytes] = {}

    def body(self, path: str, zipped: bool = False) -> bytes | None:
        """`path` ("/", "/api/status" or a chart_path) of the current
        document, gzipped or not; None: no state store. KeyError: no such
        chart."""
        with self._lock:
            now = self._monotonic()
            if self._built_at is None or now - self._built_at >= self._max_age:
                self._doc, self._bodies, self._built_at = self._document(), {}, now
            if self._doc is None:
                return None
            found = self._bodies.get((path, zipped))
            if found is None:
                plain = self._bodies.get((path, False)) or self._encode(path, self._doc)
                self._bodies[(path, False)] = plain
                found = self._bodies[(path, zipped)] = (
                    gzip.compress(plain, 5, mtime=0) if zipped else plain)
            return found

    def _encode(self, path: str, doc: dict[str, Any]) -> bytes:
        if path == "/api/status":
            return document_json(doc).encode()
        if path.startswith(CHARTS):
            svg = check_chart(doc, unquote(path[len(CHARTS):-len(".svg")]), self._charts.svg)
            if svg is None:
                raise KeyError(path)
            return svg.encode()
        return render_page(doc, self._clock()).encode()


def gzip_accepted(headers: Mapping[str, str]) -> bool:
    codings = headers.get("accept-encoding", "").lower().split(",")
    return any(c.split(";")[0].strip() == "gzip" and "q=0" not in c.replace(" ", "")
               for c in codings)


class StatusPages:
    """Answers the status routes from `document()` (None: no state store).
    `max_age`: how long one built document is served (0: built per request)."""

    paths = frozenset({"/", "/api/status", "/static/status.css", "/favicon.ico"})

    def serves(self, path: str) -> bool:
        return path in self.paths or (path.startswith(CHARTS) and path.endswith(".svg"))

    def __init__(self, document: Callable[[], dict[str, Any] | None], auth: Auth,
                 clock: Callable[[], datetime], max_age: float = 0.0) -> None:
        self._auth = auth
        self._css = stylesheet()
        self._rendered = Rendered(document, clock, max_age)

    def answer(self, path: str, headers: Mapping[str, str]) -> Answer | None:
        if not self.serves(path):
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
        zipped = gzip_accepted(headers)
        try:
            body = self._rendered.body(path, zipped)
        except KeyError:
            return 404, TEXT, b"no such chart\n", SECURITY
        if body is None:
            return (503, TEXT, b"no state store: the status is unknown (see the daemon's "
                    b"log and /healthz)\n", SECURITY)
        ctype = JSON if path == "/api/status" else SVG if path.startswith(CHARTS) else HTML
        return 200, ctype, body, {**SECURITY, **(ZIPPED if zipped else VARY)}

