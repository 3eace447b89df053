"""The HTTP server around FakeStripe, its queued faults, and helpers to build a
StripeApi and a CheckContext aimed at it.

Faults, one per request in order: ("429", s) Retry-After s; ("429-stop", s)
the same with `Stripe-Should-Retry: false`, ("429-retry", s) with
`Stripe-Should-Retry: true`; ("409-retry", 0) a lock timeout
with `Stripe-Should-Retry: true`; ("500", 0); ("401", 0) with the key quoted
back; ("delay", s) an answer s seconds late; ("ok", 0) no fault.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.peers.fake_stripe import FakeStripe

Obj = dict[str, Any]
KEY = "sk_test_fake_0123456789abcdef"


def _err(type_: str, message: str, code: str | None = None) -> Obj:
    body = {"type": type_, "message": message}
    return {"error": {**body, "code": code} if code else body}


def respond(
    fake: FakeStripe, path: str, headers: Any, fault: tuple[str, float]
) -> tuple[int, dict[str, str], Obj]:
    url = urlsplit(path)
    extra: dict[str, str] = {}
    kind, arg = fault
    if kind in ("429", "429-stop", "429-retry"):
        extra["Retry-After"] = f"{arg:g}"
        if kind != "429":
            extra["Stripe-Should-Retry"] = "false" if kind == "429-stop" else "true"
        return 429, extra, _err("invalid_request_error",
                                "Too many requests hit the API too quickly.", "rate_limit")
    if kind == "409-retry":
        return 409, {"Stripe-Should-Retry": "true"}, _err(
            "invalid_request_error", "This object cannot be accessed right now.", "lock_timeout")
    if kind == "401":
        key = headers.get("Authorization", "").removeprefix("Bearer ")
        return 401, extra, _err("invalid_request_error", f"Invalid API Key provided: {key}")
    if kind == "500":
        return 500, extra, _err("api_error", "internal error")
    pairs = parse_qsl(url.query, keep_blank_values=True)
    status, body = fake.handle(url.path, pairs, headers.get("Authorization", ""),
                               headers.get("Stripe-Account"))
    return status, extra, body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        fake.requests.append(self.path)
        fake.accounts.append(self.headers.get("Stripe-Account"))
        fault = fake.faults.pop(0) if fake.faults else ("ok", 0.0)
        if fault[0] == "delay":
            self.server.release.wait(fault[1])
        status, headers, body = respond(fake, self.path, self.headers, fault)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Request-Id", f"req_{len(fake.requests)}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe
    release: threading.Event


@contextmanager
def fake_stripe(upstream: str | None = None) -> Iterator[tuple[FakeStripe, str]]:
    from tests.peers.fake_stripe import FakeStripe

    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeStripe(upstream)
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def event(evt_id: str, type_: str, created: int, obj: Obj, pending: int = 0) -> Obj:
    """An Event shaped like Stripe's API reference."""
    return {
        "id": evt_id, "object": "event", "api_version": "2024-06-20", "created": created,
        "data": {"object": obj}, "livemode": False, "pending_webhooks": pending,
        "request": {"id": None, "idempotency_key": None}, "type": type_,
    }


def now() -> int:
    return int(time.time())


def api_for(url: str, sleeps: list[float] | None = None, **section: Any) -> Any:
    """A StripeApi aimed at `url`, built the way the app builds it; back-offs are
    recorded in `sleeps` instead of slept, and jitter is fixed at its maximum."""
    from billing_monitor.checks.stripe.client import build_stripe_api
    from billing_monitor.checks.stripe.config import StripeSection

    record = sleeps if sleeps is not None else []
    return build_stripe_api(StripeSection(api_base=url, **section), {"STRIPE_API_KEY": KEY},
                            sleep=record.append, rand=lambda: 1.0)


def context(at: int, sample_limit: int = 20, timeout: float = 60) -> Any:
    """A CheckContext at epoch second `at`."""
    from datetime import UTC, datetime

    from billing_monitor.checks.contract import CheckContext
    from billing_monitor.checks.period import current_period

    now_dt = datetime.fromtimestamp(at, UTC)
    return CheckContext(current_period("iso_week", "UTC", now_dt), now_dt,
                        deadline=time.monotonic() + timeout, sample_limit=sample_limit)
