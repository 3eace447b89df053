"""Signals in, requests out. A handler only records the signal and wakes the
main loop; the loop does the work (stop, reload) outside signal context, one
step at a time, so each step can be tested by calling it directly."""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNALS = (signal.SIGHUP,)
RUN_NOW_SIGNALS = (signal.SIGUSR1,)  # run every check now (operators, tests)


class SignalInbox:
    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._wake = threading.Event()
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def install(self) -> None:
        """Route SIGTERM, SIGINT, SIGHUP and SIGUSR1 here (main thread only)."""
        for sig in (*STOP_SIGNALS, *RELOAD_SIGNALS, *RUN_NOW_SIGNALS):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.post(signum)

    def post(self, signum: int) -> None:
        """What a signal does; also how tests and other threads ask."""
        self._pending.append(signum)
        self._wake.set()

    def wait(self, timeout: float | None) -> list[int]:
        """Signals received since the last call, waiting up to `timeout`."""
        if not self._pending:
            self._wake.wait(timeout)
        self._wake.clear()
        out: list[int] = []
        while self._pending:
            out.append(self._pending.popleft())
        return out


class InFlight:
    """Counts running jobs so shutdown can wait for them, boundedly."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> InFlight:
        with self._idle:
            self._count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    @property
    def count(self) -> int:
        with self._idle:
            return self._count

    def wait_idle(self, timeout: float) -> bool:
        """True when nothing is running, False when `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)
