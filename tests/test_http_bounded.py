"""The HTTP endpoint keeps bounded resources (issue 9 point 5), with real
sockets on loopback: clients that go away never write a traceback, an idle
client is dropped after the read timeout, connections beyond the cap are
closed at once, and the endpoint still answers afterwards."""

from __future__ import annotations

import io
import logging
import socket
import struct
import time
from collections.abc import Iterator

import httpx
import pytest

from billing_monitor.daemon.http import HttpEndpoint, make_endpoint
from billing_monitor.logs import configure
from billing_monitor.settings.sections import HttpSection


def _healthy() -> tuple[bool, dict[str, object]]:
    return True, {"status": "ok"}


def _slow_metrics() -> bytes:
    time.sleep(0.2)  # the client is gone by the time the body is written
    return b"# a large exposition\n" * 50_000


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def _reset(s: socket.socket) -> None:
    """Close with an RST, as a client that crashed or timed out does."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


@pytest.fixture
def endpoint() -> Iterator[HttpEndpoint]:
    e = HttpEndpoint("127.0.0.1", 0, _slow_metrics, _healthy, read_timeout=0.5,
                     max_connections=8)
    e.start()
    yield e
    e.close()


@pytest.fixture
def product_log() -> Iterator[io.StringIO]:
    """The product's own logging (monitor/logs.py) at DEBUG, into a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure("json", "DEBUG", [], stream=buffer, env={})
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_clients_that_go_away_write_no_traceback(
    endpoint: HttpEndpoint, capfd: pytest.CaptureFixture[str], product_log: io.StringIO
) -> None:
    for batch in range(5):  # 50 clients, at most 8 at once (the cap)
        clients = [_connect(endpoint.port) for _ in range(8 if batch < 4 else 18)]
        for s in clients:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
        for s in clients:
            _reset(s)
        time.sleep(0.4)
    assert _get(endpoint.port, "/healthz").status_code == 200
    log = product_log.getvalue()
    assert "the client went away" in log  # seen, as a debug line
    _out, err = capfd.readouterr()
    for trace in ("Traceback", "BrokenPipeError", "ConnectionResetError", '"error"'):
        assert trace not in log
    # (Other tests' leftover threads may write to this process's stderr: look
    # for what this server would write.)
    for trace in ("socketserver", "http/server.py", "BrokenPipeError"):
        assert trace not in err


def test_an_idle_client_is_dropped_after_the_read_timeout(endpoint: HttpEndpoint) -> None:
    idle = _connect(endpoint.port)
    idle.sendall(b"GET /heal")  # half a request line, then nothing
    started = time.monotonic()
    assert idle.recv(1024) == b""  # closed by the server, not by our 5 s timeout
    assert time.monotonic() - started < 4
    idle.close()


def test_connections_beyond_the_cap_are_closed_at_once() -> None:
    e = HttpEndpoint("127.0.0.1", 0, lambda: b"", _healthy, read_timeout=10,
                     max_connections=3)
    e.start()
    try:
        held = [_connect(e.port) for _ in range(3)]
        time.sleep(0.2)  # accepted: each holds a slot, waiting for its request
        extra = _connect(e.port)
        assert extra.recv(1024) == b""  # closed, well before the 10 s read timeout
        extra.close()
        for s in held:
            s.close()
        time.sleep(0.3)
        assert _get(e.port, "/healthz").status_code == 200  # the slots came back
    finally:
        e.close()


def test_serving_beyond_loopback_logs_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    built: list[tuple[object, ...]] = []

    def fake(*args: object, **kwargs: object) -> str:
        built.append((*args, kwargs))
        return "endpoint"

    monkeypatch.setattr("billing_monitor.daemon.http.HttpEndpoint", fake)
    caplog.set_level(logging.WARNING, logger="billing_monitor.http")
    section = HttpSection(host="0.0.0.0", allow_remote=True, read_timeout_seconds=2,
                          max_connections=4)
    assert make_endpoint(section, lambda: b"", _healthy) == "endpoint"  # type: ignore[comparison-overlap]
    assert "beyond this host" in caplog.text
    assert built[0][-1] == {"read_timeout": 2.0, "max_connections": 4, "pages": None}
    caplog.clear()
    make_endpoint(HttpSection(), lambda: b"", _healthy)
    assert "beyond this host" not in caplog.text
