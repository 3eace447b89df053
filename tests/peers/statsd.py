"""A DogStatsD peer: a UDP socket on 127.0.0.1 that keeps every datagram."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


class UdpListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.port: int = self.sock.getsockname()[1]

    def receive(self, count: int) -> list[str]:
        """Exactly `count` datagrams' lines (a datagram may hold several)."""
        lines: list[str] = []
        while len(lines) < count:
            data = self.sock.recv(65535)
            lines.extend(data.decode().splitlines())
        return lines

    def drain(self, timeout: float = 0.3) -> list[str]:
        """Everything that arrives until the socket is quiet for `timeout`."""
        self.sock.settimeout(timeout)
        lines: list[str] = []
        try:
            while True:
                lines.extend(self.sock.recv(65535).decode().splitlines())
        except TimeoutError:
            return lines
        finally:
            self.sock.settimeout(2.0)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def udp_listener() -> Iterator[UdpListener]:
    listener = UdpListener()
    try:
        yield listener
    finally:
        listener.close()
