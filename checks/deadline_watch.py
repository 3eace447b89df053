"""One thread that sends the cancel of every check whose deadline passes
(checks/deadline.py), instead of a timer thread started per check run: a
thread start and join cost about as much as the check's own round trips on
a busy machine (issue 10, docs/benchmarks.md section 8).

`watch(deadline, cancel)` returns a `Watch`; leaving it stops the watch, and
waits for a cancel already under way, so that `fired` is final afterwards.
A cancel that raises is logged; the server's statement_timeout still holds.
Cancels are sent one after another: one that hangs (psycopg gives up after
CANCEL_TIMEOUT_S, 5 s) delays the next check's cancel by as much, while that
check's own statement_timeout, set at its start, stops it on the server.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("billing_monitor.checks")

_PENDING, _FIRING, _DONE = 0, 1, 2


class Watch:
    def __init__(self, watcher: _Watcher, deadline: float, cancel: Callable[[], None]) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.fired = False
        self.state = _PENDING
        self._watcher = watcher

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._watcher.stop(self)


class _Watcher:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, cancel: Callable[[], None]) -> Watch:
        w = Watch(self, deadline, cancel)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), w))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="check-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][2] is w:
                self._cond.notify_all()  # earlier than what the thread waits for
        return w

    def stop(self, w: Watch) -> None:
        with self._cond:
            if w.state == _PENDING:
                w.state = _DONE  # dropped from the heap when it comes up
                return
            while w.state == _FIRING:
                self._cond.wait()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].state == _DONE:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, w = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                w.state, w.fired = _FIRING, True
                self._cond.release()
                try:
                    w.cancel()
                except Exception as exc:  # the server's statement_timeout still holds
                    log.warning("could not cancel a query at its deadline: %s",
                                type(exc).__name__)
                finally:
                    self._cond.acquire()
                    w.state = _DONE
                    self._cond.notify_all()


_WATCHER = _Watcher()


def watch(deadline: float, cancel: Callable[[], None]) -> Watch:
    """Call `cancel` (from the watcher's thread) when `deadline` passes,
    unless the returned Watch has been left before."""
    return _WATCHER.watch(deadline, cancel)
