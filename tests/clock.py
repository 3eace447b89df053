"""The clock the product's own processes read, for tests that build data for it.

No test may depend on the wall-clock date. Tests that run code in-process
inject a fixed clock. Tests that start the real `billing-monitor` process
cannot inject one, so they build their data from `now()`, the clock that
process will read, and make it hold whichever period the run lands in
(`settle` for a test that needs several runs inside one period).

CI proves it: `.ci/run` runs the tests marked `clock` again with
BHM_TEST_FAKETIME set to an ISO 8601 instant (ISO week 53, New Year, a DST
change). Then every product process the tests start runs under libfaketime
at an offset from the real clock that puts the session's start at that
instant (time still advances, at the same offset in every process), and
`now()` reads that same shifted clock. libfaketime is preloaded into the
product's processes only: preloaded into pytest it breaks subprocess and
socket calls, and such failures say nothing about the product.
"""

from __future__ import annotations

import glob
import os
import time
from datetime import UTC, datetime, timedelta

from billing_monitor.checks.period import PeriodKind, current_period

TARGET = os.environ.get("BHM_TEST_FAKETIME", "")
# The time zone the clock tests configure for periods and schedules: one with
# DST, so that the DST-change pass of CI means something.
ZONE = os.environ.get("BHM_TEST_ZONE", "Europe/Berlin")


def _offset() -> int:
    if not TARGET:
        return 0
    target = datetime.fromisoformat(TARGET)
    if target.tzinfo is None:
        raise ValueError(f"BHM_TEST_FAKETIME={TARGET!r} needs a UTC offset")
    return round((target - datetime.now(UTC)).total_seconds())


OFFSET = _offset()


def _library() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        raise RuntimeError("BHM_TEST_FAKETIME is set but libfaketime is not installed "
                           "(Debian package: faketime)")
    return found[0]


def now() -> datetime:
    """What `datetime.now(UTC)` returns in a product process started now."""
    return datetime.now(UTC) + timedelta(seconds=OFFSET)


def process_env() -> dict[str, str]:
    """Environment for a product process: the shifted clock, when one is asked for."""
    if not OFFSET:
        return {}
    return {
        "LD_PRELOAD": _library(),
        "FAKETIME": f"{OFFSET:+d}",
        # Timeouts and deadlines use the monotonic clock: leave it alone.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def settle(kind: PeriodKind = "iso_week", zone: str = "UTC",
           margin: timedelta = timedelta(seconds=30)) -> datetime:
    """For a test whose product runs must all land in one period: if the
    period containing now ends within `margin`, wait until it has ended.
    Returns now. (At most `margin`, and only next to a boundary.)"""
    current = now()
    end = current_period(kind, zone, current).end_at
    if end - current < margin:
        time.sleep((end - current).total_seconds() + 0.5)
    return now()
