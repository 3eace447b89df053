"""sd_notify(3) without libsystemd: one AF_UNIX datagram per state change.

systemd passes $NOTIFY_SOCKET (a path, or '@name' for an abstract socket) to a
Type=notify service, and $WATCHDOG_USEC when WatchdogSec= is set. Outside
systemd neither is set and `notifier_from_env` returns a no-op notifier.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger("billing_monitor.systemd")


class Notifier(Protocol):
    def notify(self, state: str) -> bool: ...


class NullNotifier:
    """Not under systemd: every notification is dropped."""

    def notify(self, state: str) -> bool:
        return False


class SystemdNotifier:
    def __init__(self, address: str) -> None:
        # '@' marks a Linux abstract socket, whose name starts with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address

    def notify(self, state: str) -> bool:
        """Send `state` (e.g. "READY=1"); never raises: systemd being away
        must not take the monitor down."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(state.encode())
            return True
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc.strerror or exc)
            return False


def notifier_from_env(env: Mapping[str, str]) -> Notifier:
    address = env.get("NOTIFY_SOCKET", "")
    if address.startswith(("/", "@")):
        return SystemdNotifier(address)
    return NullNotifier()


def watchdog_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, or None when
    the watchdog is off or meant for another process ($WATCHDOG_PID)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


def reloading_message() -> str:
    """RELOADING=1 with the CLOCK_MONOTONIC timestamp newer systemd asks for."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
