"""The daemon's delivery thread. The alert engine wakes it the moment it
queues a notification, so a page leaves within milliseconds of the check's
end instead of at the next timer tick. Between wake-ups it runs when the
earliest pending row is due (a retry's backoff), and at least every
`[outbox].dispatch_seconds` (the outbox gauges, rows another process queued).

A pass returns as soon as it is woken again: a chat lane stuck in a hanging
webhook keeps delivering in the background (and is skipped until it is done),
while the next pass pages at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from billing_monitor.clock import Clock, utc_now
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.daemon")
MIN_WAIT = 0.05  # seconds: never spin on a row due in the past

# One delivery pass: given "return early" (a new row was queued), returns when
# the earliest pending row it left behind is due (None: nothing pending).
Pass = Callable[[Callable[[], bool]], datetime | None]


class DeliveryLoop:
    def __init__(self, run_pass: Pass, interval: Callable[[], float],
                 clock: Clock = utc_now) -> None:
        self._pass = run_pass
        self._interval = interval
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """A row was queued: deliver now (any thread may call it)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def run_once(self) -> datetime | None:
        """One pass now, in the caller's thread (tests, the shutdown drain)."""
        return self._pass(lambda: False)

    def stop(self, timeout: float) -> bool:
        """Finish the pass under way (within `timeout`), then stop."""
        self._stopping = True
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        wait = 0.0  # a first pass at start: what an earlier process left behind
        while True:
            self._wake.wait(wait)
            if self._stopping:
                return
            self._wake.clear()
            started = time.monotonic()
            try:
                next_due = self._pass(self._wake.is_set)
            except Exception as exc:  # the pass isolates its parts; this is a last guard
                log.error("delivery pass failed: %s", describe_error(exc))
                next_due = None
            wait = self._interval()
            if next_due is not None:
                wait = min(wait, (next_due - self._clock()).total_seconds())
            # A pass that returned at once with rows still due must not spin.
            wait = max(wait, MIN_WAIT - (time.monotonic() - started), 0.0)
