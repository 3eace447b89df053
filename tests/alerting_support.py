"""Shared pieces of the alerting tests: a state store on a real SQLite file or
a fresh database on the suite's PostgreSQL, results built from numbers, a
recording notifier that can be told to fail, and a settable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.base import Notification
from checks.base import CheckOptions
from monitor.alerting import AlertEngine
from monitor.dispatcher import Backoff, Dispatcher
from monitor.period import current_period
from monitor.state import open_state
from monitor.thresholds import Thresholds
from monitor.types import CheckResult, Evaluation, Measurement, SinkError, Status

T0 = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)  # a Thursday in 2026-W47
_dbs = itertools.count()


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server = request.getfixturevalue("pg_server")
    return str(server.fresh_database(f"state_{next(_dbs)}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path, request)


@pytest.fixture
def store(state_url: str) -> Iterator[Engine]:
    engine = open_state(state_url)
    yield engine
    engine.dispose()


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> datetime:
        self.at += timedelta(**kw)
        return self.at


@dataclass
class FakeNotifier:
    """Implements Notifier; `failures` queued exceptions are raised first."""

    name: str
    delivered: list[Notification] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    down: SinkError | None = None  # raised on every call while set
    max_seconds: float = 1.0

    def deliver(self, notification: Notification) -> None:
        if self.down is not None:
            raise self.down
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(notification)

    def seen(self) -> list[tuple[str, str, str, str]]:
        return [(n.action, n.reason, n.dedup_key, n.severity) for n in self.delivered]


def options(critical: float = 10, warning: float | None = 5, **alert: object) -> CheckOptions:
    return CheckOptions(
        type="sql", thresholds=Thresholds(warning=warning, critical=critical),
        runbook_url="https://runbooks.example.com/billing/unbilled", alert=alert,
    )


def result(check: str, value: float | None, at: datetime, opts: CheckOptions,
           kind: str = "iso_week") -> CheckResult:
    """What the runner would produce for `value` (None: the check could not run)."""
    period = current_period("iso_week" if kind == "iso_week" else "day", "UTC", at)
    if value is None:
        return CheckResult(check, Status.UNKNOWN, (), 0.1, at, period,
                           error="OperationalError: connection refused")
    status, crossed = opts.thresholds.evaluate(value)
    m = Measurement(check, value, samples=("order-1", "order-2"))
    return CheckResult(check, status, (Evaluation(m, status, crossed),), 0.1, at, period)


def make_engine(store: Engine, checks: dict[str, CheckOptions], channels: list[str],
                **kw: object) -> AlertEngine:
    return AlertEngine(store, checks, channels, service="billing", env="test",
                       source="monitor-test-host", **kw)  # type: ignore[arg-type]


def make_dispatcher(store: Engine, notifiers: list[FakeNotifier], clock: Clock,
                    backoff: Backoff | None = None, rand: float = 0.5) -> Dispatcher:
    return Dispatcher(store, {n.name: n for n in notifiers}, backoff=backoff or Backoff(),
                      clock=clock, rand=lambda: rand)
