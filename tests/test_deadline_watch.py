"""The one thread that cancels checks at their deadlines (checks/deadline_watch.py)."""

from __future__ import annotations

import threading
import time

import pytest

from billing_monitor.checks.deadline_watch import watch

FAR = 3600.0  # a deadline that does not pass during a test


def test_a_watch_left_before_its_deadline_never_cancels() -> None:
    calls: list[int] = []
    with watch(time.monotonic() + FAR, lambda: calls.append(1)) as w:
        pass
    # A later watch that does fire proves the thread went past the first.
    fired = threading.Event()
    with watch(time.monotonic() - 1, fired.set):
        assert fired.wait(30)
    assert not w.fired
    assert calls == []


def test_a_passed_deadline_cancels_once_and_fired_is_final() -> None:
    calls: list[int] = []
    sent = threading.Event()

    def cancel() -> None:
        calls.append(1)
        sent.set()

    with watch(time.monotonic() - 1, cancel) as w:
        assert sent.wait(30)
    assert w.fired and calls == [1]


def test_leaving_waits_for_a_cancel_under_way() -> None:
    started, release, left = threading.Event(), threading.Event(), threading.Event()
    finished: list[str] = []

    def slow_cancel() -> None:
        started.set()
        release.wait(30)
        finished.append("cancel")

    w = watch(time.monotonic() - 1, slow_cancel)
    assert started.wait(30)

    def leave() -> None:
        w.__exit__(None, None, None)
        finished.append("left")
        left.set()

    threading.Thread(target=leave, daemon=True).start()
    assert not left.wait(0.2)  # still inside the cancel
    release.set()
    assert left.wait(30)
    assert finished == ["cancel", "left"] and w.fired


def test_an_earlier_deadline_added_later_fires_first_and_a_failing_cancel_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order: list[str] = []
    done = threading.Event()

    def boom() -> None:
        order.append("early")
        raise OSError("server gone")

    with watch(time.monotonic() + FAR, lambda: order.append("late")), \
            watch(time.monotonic() - 1, boom), watch(time.monotonic() - 0.5, done.set):
        assert done.wait(30)
    assert order == ["early"]
    assert "could not cancel a query at its deadline: OSError" in caplog.text
