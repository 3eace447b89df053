"""Scrubbing: a driver's error message may echo its input (a query, a URL),
so every result's error has the known secrets removed before it leaves the
process, reaches a sink or is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from billing_monitor.alerts.contract import Sink
from billing_monitor.checks.contract import CheckResult

Scrub = Callable[[str], str]


def same(text: str) -> str:
    return text


def scrub_result(result: CheckResult, scrub: Scrub) -> CheckResult:
    """A driver's error message may echo its input (a query, a URL): scrub
    known secrets before the error leaves the process or reaches the store."""
    if not result.error:
        return result
    return dataclasses.replace(result, error=scrub(result.error))


class ScrubbingSink:
    def __init__(self, inner: Sink, scrub: Scrub) -> None:
        self.name = inner.name
        self._inner = inner
        self._scrub = scrub

    def emit(self, result: CheckResult) -> None:
        self._inner.emit(scrub_result(result, self._scrub))

    def close(self) -> None:
        self._inner.close()
