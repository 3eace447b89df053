"""Signals in, requests out. A handler only records the signal and wakes the
main loop; the loop does the work (stop, reload) outside signal context, one
step at a time, so each step can be tested by calling it directly.

The handler takes no lock. Python runs it in the main thread between two
bytecodes of whatever that thread was doing, which is usually waiting in this
inbox: a handler that set a `threading.Event` could run while that very wait
held the Event's lock, and the daemon then hung for good on SIGTERM or SIGHUP
(seen once in about 160 stops with the watchdog on). So the wake-up is a byte
on a socket pair (the self-pipe trick), and the wait is a `select`.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNALS = (signal.SIGHUP,)
RUN_NOW_SIGNALS = (signal.SIGUSR1,)  # run every check now (operators, tests)


class SignalInbox:
    def __init__(self) -> None:
        self._pending: deque[int] = deque()  # append and popleft are atomic
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = -1
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def install(self) -> None:
        """Route SIGTERM, SIGINT, SIGHUP and SIGUSR1 here (main thread only).

        The kernel may deliver a signal to any thread; Python then runs the
        handler in the main thread only once that thread runs bytecode again,
        which a thread blocked in `select` never does. So the socket pair is
        also the interpreter's wakeup fd: the signal's own byte wakes the wait
        (without it, a SIGTERM that landed on a check's thread went unanswered
        until the next watchdog tick, or for good with no watchdog)."""
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(),
                                                 warn_on_full_buffer=False)
        for sig in (*STOP_SIGNALS, *RELOAD_SIGNALS, *RUN_NOW_SIGNALS):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_fd)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.post(signum)

    def post(self, signum: int) -> None:
        """What a signal does; also how tests and other threads ask. Takes no
        lock, so it is safe between any two bytecodes of the main thread."""
        self._pending.append(signum)
        # A full buffer means the loop is already awake; a closed pair, gone.
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def wait(self, timeout: float | None) -> list[int]:
        """Signals received since the last call, waiting up to `timeout`."""
        stop = None if timeout is None else time.monotonic() + timeout
        # Woken by a byte: the handler's own, or the wakeup fd's, after which
        # the handler runs as soon as this thread is back in bytecode.
        while not self._pending:
            left = None if stop is None else stop - time.monotonic()
            if left is not None and left <= 0:
                break
            if select.select([self._reader], [], [], left)[0]:
                self._drain()
        self._drain()
        out: list[int] = []
        while self._pending:
            out.append(self._pending.popleft())
        return out

    def _drain(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError once drained
            while self._reader.recv(4096):
                pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


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
