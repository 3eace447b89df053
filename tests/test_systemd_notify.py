"""sd_notify against a real AF_UNIX datagram socket, as systemd listens."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_monitor.daemon.systemd import (
    NullNotifier,
    SystemdNotifier,
    notifier_from_env,
    reloading_message,
    watchdog_interval,
)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_messages_arrive_on_a_path_socket(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    notifier = notifier_from_env({"NOTIFY_SOCKET": path})
    assert isinstance(notifier, SystemdNotifier)
    assert notifier.notify("READY=1")
    assert notifier.notify("WATCHDOG=1")
    assert notifier.notify("STOPPING=1")
    assert [sock.recv(4096) for _ in range(3)] == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_abstract_socket() -> None:
    name = f"billing-monitor-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert notifier_from_env({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_reloading_carries_a_monotonic_timestamp(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    SystemdNotifier(path).notify(reloading_message())
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_a_missing_socket_is_logged_not_raised(tmp_path: Path) -> None:
    assert SystemdNotifier(str(tmp_path / "absent.sock")).notify("READY=1") is False


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "relative"}])
def test_outside_systemd_nothing_is_sent(env: dict[str, str]) -> None:
    assert isinstance(notifier_from_env(env), NullNotifier)
    assert NullNotifier().notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
