"""/metrics, /healthz and the status page (`/`, `/api/status`: status_http.py)
on a small threaded HTTP server (loopback by default).

`/healthz` answers 200 with a JSON body when healthy and 503 with the reasons
otherwise. Disabled in the config, the server is a no-op object.

Resources stay bounded whatever clients do: each read times out
(`[http] read_timeout_seconds`), at most `max_connections` are served at once
(more are closed at once), and a client that goes away is a debug line, never
a traceback (socketserver's default `handle_error` prints one to stderr).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from billing_monitor.settings.sections import HttpSection, is_loopback

log = logging.getLogger("billing_monitor.http")

# A client that went away mid-request: nothing to report but a debug line.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

Health = Callable[[], tuple[bool, dict[str, Any]]]


class Pages(Protocol):
    """Routes served before the endpoint's own; headers with lower-case names."""

    def answer(self, path: str, headers: Mapping[str, str]
               ) -> tuple[int, str, bytes, dict[str, str]] | None: ...


class Endpoint(Protocol):
    address: str

    def start(self) -> None: ...

    def close(self) -> None: ...


class NullEndpoint:
    address = "disabled"

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None


def _handler(metrics: Callable[[], bytes], health: Health, read_timeout: float,
             pages: Pages) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "billing-monitor"
        timeout = read_timeout  # StreamRequestHandler: the socket's timeout, per read

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                page = pages.answer(path, {k.lower(): v for k, v in self.headers.items()})
                if page is not None:
                    self._send(*page)
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics())
                elif path == "/healthz":
                    ok, body = health()
                    self._send(200 if ok else 503, "application/json",
                               json.dumps(body, sort_keys=True).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: try /, "
                               b"/api/status, /metrics or /healthz\n")
            except CLIENT_GONE:
                log.debug("http %s: the client went away", path)
            except Exception as exc:  # a probe must never take the server down
                log.error("http %s failed: %s", path, type(exc).__name__)
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")

        def _send(self, code: int, ctype: str, body: bytes,
                  extra: Mapping[str, str] | None = None) -> None:
            try:
                self.send_response(code)
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            except CLIENT_GONE:
                log.debug("http: the client went away before the response was written")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int) -> None:
        self.max_connections = max_connections
        self.refused = 0
        self._warned = -60.0
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            if time.monotonic() - self._warned > 60:  # at most a line a minute
                self._warned = time.monotonic()
                log.warning("http: %d connections already open; closing new ones "
                            "(%d so far)", self.max_connections, self.refused)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, CLIENT_GONE):
            log.debug("http: a client went away (%s)", type(error).__name__)
        else:  # one line, no traceback
            log.error("http: a request failed: %s", type(error).__name__)


class _Server6(_BoundedServer):
    address_family = socket.AF_INET6


class HttpEndpoint:
    def __init__(self, host: str, port: int, metrics: Callable[[], bytes], health: Health,
                 *, read_timeout: float = 5.0, max_connections: int = 16,
                 pages: Pages | None = None) -> None:
        server = _Server6 if ":" in host else _BoundedServer  # "::1" binds IPv6
        self._server = server((host, port), _handler(metrics, health, read_timeout,
                                                       pages or _NoPages()),
                              max_connections)
        bound = self._server.server_address
        self.port = int(bound[1])
        self.address = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics, /healthz and the status page on %s", self.address)

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _NoPages:
    def answer(self, path: str, headers: Mapping[str, str]) -> None:
        return None


def make_endpoint(section: HttpSection, metrics: Callable[[], bytes], health: Health,
                  pages: Pages | None = None) -> Endpoint:
    if not section.enabled:
        return NullEndpoint()
    if not is_loopback(section.host):  # allowed by [http] allow_remote = true only
        log.warning("serving /metrics and /healthz on %s, beyond this host "
                    "([http] allow_remote = true)", section.host)
    return HttpEndpoint(section.host, section.port, metrics, health,
                        read_timeout=section.read_timeout_seconds,
                        max_connections=section.max_connections, pages=pages)
