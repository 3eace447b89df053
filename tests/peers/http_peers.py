"""Local HTTP(S) peers: a stdlib ThreadingHTTPServer on 127.0.0.1:0 in a thread,
with a switchable fault: "refused" (the server is closed and its port freed),
"timeout" (the handler sleeps past any sane client timeout), "error" (500),
"ratelimit" (429 + Retry-After) and "malformed" (a 2xx whose body is not what
the service documents). `queue(...)` makes the next requests fail, then the
peer goes back to `fault`. The services: tests/peers/http_services.py."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import trustme

Fault = Literal["ok", "refused", "timeout", "error", "ratelimit", "malformed"]
Reply = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(
        data).encode()


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, text.encode()


@dataclass
class Tls:
    """A throwaway CA (trustme): the server context and a client context trusting it."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_pem: bytes = field(repr=False, default=b"")


def make_tls() -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(server=server, client=client, ca_pem=ca.cert_pem.bytes())


class HttpPeer:
    """Base peer. Subclasses implement `handle` (the service) and may override
    the fault bodies. Every request, faulty or not, is kept in `requests`."""

    retry_after = "7"
    hang_seconds = 5.0

    def __init__(self, tls: Tls | None = None) -> None:
        self.requests: list[Received] = []
        self.fault: Fault = "ok"
        self._queued: list[Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._tls = tls
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._start()

    # --- the service -------------------------------------------------------
    def handle(self, req: Received) -> Reply:
        raise NotImplementedError

    def error_reply(self) -> Reply:
        return text_reply(500, "internal error")

    def ratelimit_reply(self) -> Reply:
        return text_reply(429, "rate limited", {"Retry-After": self.retry_after})

    def malformed_reply(self) -> Reply:
        return 200, {"Content-Type": "text/html"}, b"<html><body>502 upstream</body></html>"

    # --- faults ------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._port}"

    def set_fault(self, fault: Fault) -> None:
        if fault == "refused" and self._server is not None:
            self._stop()
        elif fault != "refused" and self._server is None:
            self._start()
        self.fault = fault

    def queue(self, *faults: Fault) -> None:
        """The next len(faults) requests get these faults (not "refused")."""
        with self._lock:
            self._queued.extend(faults)

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._queued.pop(0) if self._queued else self.fault

    def release(self) -> None:
        """Let requests held by "timeout" go on (they close without an answer)."""
        self._release.set()

    def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._stop()

    # --- plumbing ----------------------------------------------------------
    def _start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                peer._serve(self)

            do_GET = do_POST
            do_PUT = do_POST
            do_HEAD = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        if self._tls:
            server.socket = self._tls.server.wrap_socket(server.socket, server_side=True)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True,
                                        name=f"{type(self).__name__}:{self._port}")
        self._thread.start()

    def _stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()  # the port is free: connections are refused
        self._thread.join()
        self._server = None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        req = Received(h.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                       {k.lower(): v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append(req)
        fault = self._next_fault()
        if fault == "timeout":
            self._release.wait(self.hang_seconds)
            return  # close without an answer
        replies = {"error": self.error_reply, "ratelimit": self.ratelimit_reply,
                   "malformed": self.malformed_reply}
        status, headers, payload = replies[fault]() if fault in replies else self.handle(req)
        try:
            h.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(payload))}.items():
                h.send_header(key, value)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
        except OSError:  # the client gave up
            pass


@contextmanager
def running(peer: HttpPeer) -> Iterator[HttpPeer]:
    try:
        yield peer
    finally:
        peer.close()
