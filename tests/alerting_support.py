"""Shared pieces of the alerting tests: a state store on a real SQLite file or
a fresh database on the suite's PostgreSQL, results built from numbers, the
real PagerDuty and Slack notifiers on their local peers (what the peer
received is what the on-call engineer would see), and a settable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from billing_monitor.alerting.dispatcher import Backoff, Dispatcher
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.store import open_state
from billing_monitor.alerts.contract import Notification, Notifier
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from billing_monitor.alerts.slack import SlackNotifier
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer, SlackPeer

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


ROUTING_KEY = "S3cr3tR0utingKey0123456789abcdef"
# Generous: a loaded machine must never turn a healthy local delivery into a timeout.
TIMEOUT = 10.0
Seen = tuple[str, str, str, str | None]


class PagerDuty:
    """The real PagerDutyNotifier on the local Events API v2 peer (one HTTP
    attempt per delivery: retries are the outbox's job)."""

    name = "pagerduty"

    def __init__(self, peer: PagerDutyPeer, tls: Tls) -> None:
        self.peer = peer
        self.notifier = PagerDutyNotifier(ROUTING_KEY, events_url=peer.url, timeout=TIMEOUT,
                                          max_attempts=1, verify=tls.client)
        self.max_seconds = self.notifier.max_seconds

    def deliver(self, notification: Notification) -> None:
        self.notifier.deliver(notification)

    def events(self) -> list[dict[str, Any]]:
        return self.peer.events

    def seen(self) -> list[Seen]:
        """(action, reason, dedup key, severity) of each event PagerDuty accepted;
        a resolve carries no payload, hence no reason or severity of its own."""
        out: list[Seen] = []
        for e in self.peer.events:
            payload = e.get("payload", {})
            reason = payload.get("custom_details", {}).get("reason", "resolve")
            out.append((e["event_action"], reason, e["dedup_key"], payload.get("severity")))
        return out

    def attempts(self) -> int:
        """Requests that reached the peer, refused and failed ones included."""
        return len(self.peer.requests)

    def close(self) -> None:
        self.notifier.close()


class Slack:
    """The real SlackNotifier on the local incoming-webhook peer."""

    name = "slack"

    def __init__(self, peer: SlackPeer) -> None:
        self.peer = peer
        self.notifier = SlackNotifier(peer.webhook_url, timeout=TIMEOUT)
        self.max_seconds = self.notifier.max_seconds

    def deliver(self, notification: Notification) -> None:
        self.notifier.deliver(notification)

    def titles(self) -> list[str]:
        return [m["blocks"][0]["text"]["text"] for m in self.peer.messages]

    def texts(self) -> list[str]:
        return [m["text"] for m in self.peer.messages]

    def close(self) -> None:
        self.notifier.close()


@pytest.fixture
def pd(pagerduty_peer: PagerDutyPeer, tls: Tls) -> Iterator[PagerDuty]:
    notifier = PagerDuty(pagerduty_peer, tls)
    yield notifier
    notifier.close()


@pytest.fixture
def slack(slack_peer: SlackPeer) -> Iterator[Slack]:
    notifier = Slack(slack_peer)
    yield notifier
    notifier.close()


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


def make_dispatcher(store: Engine, notifiers: Sequence[Notifier], clock: Clock,
                    backoff: Backoff | None = None, rand: float = 0.5) -> Dispatcher:
    return Dispatcher(store, {n.name: n for n in notifiers}, backoff=backoff or Backoff(),
                      clock=clock, rand=lambda: rand)
