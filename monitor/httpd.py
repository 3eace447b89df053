"""/metrics and /healthz on a small threaded HTTP server (loopback by default).

`/healthz` answers 200 with a JSON body when healthy and 503 with the reasons
otherwise. Disabled in the config, the server is a no-op object.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.settings import HttpSection

log = logging.getLogger("billing_monitor.http")

Health = Callable[[], tuple[bool, dict[str, Any]]]


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


def _handler(metrics: Callable[[], bytes], health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "billing-monitor"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics())
                elif path == "/healthz":
                    ok, body = health()
                    self._send(200 if ok else 503, "application/json",
                               json.dumps(body, sort_keys=True).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics "
                               b"or /healthz\n")
            except Exception as exc:  # a probe must never take the server down
                log.error("http %s failed: %s", path, type(exc).__name__)
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class HttpEndpoint:
    def __init__(self, host: str, port: int, metrics: Callable[[], bytes], health: Health) -> None:
        server = _Server6 if ":" in host else ThreadingHTTPServer  # "::1" binds IPv6
        self._server = server((host, port), _handler(metrics, health))
        self._server.daemon_threads = True
        bound = self._server.server_address
        self.port = int(bound[1])
        self.address = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics and /healthz on %s", self.address)

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def make_endpoint(section: HttpSection, metrics: Callable[[], bytes], health: Health) -> Endpoint:
    if not section.enabled:
        return NullEndpoint()
    return HttpEndpoint(section.host, section.port, metrics, health)
