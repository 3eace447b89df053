"""The daemon's signal inbox: a signal may arrive between any two bytecodes
of the main thread, usually while that thread waits in the inbox itself."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from billing_monitor.daemon.signals import SignalInbox


def test_signals_come_out_in_order_and_a_quiet_wait_times_out() -> None:
    inbox = SignalInbox()
    try:
        inbox.post(signal.SIGHUP)
        inbox.post(signal.SIGUSR1)
        assert inbox.wait(5) == [signal.SIGHUP, signal.SIGUSR1]
        started = time.monotonic()
        assert inbox.wait(0.05) == []
        assert time.monotonic() - started >= 0.04
    finally:
        inbox.close()


def test_a_real_signal_wakes_the_wait_at_once() -> None:
    inbox = SignalInbox()
    inbox.install()
    try:
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        started = time.monotonic()
        assert inbox.wait(30) == [signal.SIGUSR1]
        assert time.monotonic() - started < 10  # woken by the signal, not the timeout
    finally:
        inbox.restore()
        inbox.close()


def test_a_signal_between_any_two_lines_of_the_wait_never_hangs() -> None:
    """Python runs a handler between two bytecodes of the main thread. Simulate
    a signal at every line executed inside `wait` (threading's own code
    included): with a handler that took a lock the waiter held (Event.set
    inside Event.wait), the loop hung for good on SIGTERM."""
    inbox = SignalInbox()
    delivered: list[int] = []
    seen: list[list[int]] = []

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and len(delivered) < 500:
            delivered.append(signal.SIGUSR1)
            sys.settrace(None)  # the handler itself runs untraced, as a real one would
            try:
                inbox.post(signal.SIGUSR1)
            finally:
                sys.settrace(tracer)
        return tracer

    def waiter() -> None:
        sys.settrace(tracer)
        try:
            for _ in range(20):
                seen.append(inbox.wait(0.001))
        finally:
            sys.settrace(None)

    worker = threading.Thread(target=waiter, daemon=True)
    worker.start()
    worker.join(10)
    try:
        assert not worker.is_alive(), "the inbox deadlocked on a signal during its own wait"
        got = [s for batch in seen for s in batch] + inbox.wait(0)
        assert got == delivered and len(delivered) > 20
    finally:
        inbox.close()


def test_a_signal_delivered_to_another_thread_still_wakes_the_wait() -> None:
    """The kernel may hand a process's signal to any thread (a check's, the
    scheduler's): the main thread blocked in the inbox must wake anyway. It
    used to sleep on until the next watchdog tick, or for good without one."""
    inbox = SignalInbox()
    inbox.install()
    parked = threading.Event()
    other = threading.Thread(target=parked.wait, daemon=True)
    other.start()
    try:
        assert other.ident is not None
        timer = threading.Timer(0.2, signal.pthread_kill, (other.ident, signal.SIGUSR1))
        timer.start()
        started = time.monotonic()
        assert inbox.wait(20) == [signal.SIGUSR1]
        assert time.monotonic() - started < 10  # woken by the signal, not the timeout
    finally:
        parked.set()
        inbox.restore()
        inbox.close()
