"""Wiring: settings in, checks, sinks and a runner out. The only place that
knows which concrete classes make up the product."""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from alerts.base import Notifier
from alerts.config import Secrets
from alerts.notifiers import notifier_summary
from alerts.prometheus import MonitorMetrics, PrometheusSink
from alerts.statsd import NullSink, StatsdClient, StatsdSink, make_client
from checks.registry import CHECK_TYPES
from checks.stripe_base import StripeCheckOptions
from checks.stripe_client import StripeApi, build_stripe_api
from checks.stripe_config import API_KEY_ENV
from checks.stripe_state import CursorStore, SqlCursorStore
from monitor.alerting import AlertEngine
from monitor.alerting_runtime import Alerting
from monitor.billing_db import cancel_running, open_engine
from monitor.dispatcher import Backoff, Dispatcher
from monitor.period import current_period
from monitor.runner import Clock, PlannedCheck, Runner, utc_now
from monitor.settings import Settings
from monitor.state import open_state
from monitor.types import Period, Sink

__all__ = ["AppServices", "build_checks", "build_runner", "build_sinks", "open_engine"]

log = logging.getLogger("billing_monitor")


class AppServices:
    """Shared resources for check factories, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._stripe: StripeApi | None = None
        self._cursors: CursorStore | None = None

    def billing_engine(self) -> Engine:
        if self._engine is None:
            # The session's own statement_timeout: the longest check's timeout.
            longest = max((o.timeout_seconds for o in self._settings.checks.values()),
                          default=30.0)
            self._engine = open_engine(self._settings.database.url, timeout_s=longest)
        return self._engine

    def stripe_client(self) -> StripeApi:
        if self._stripe is None:
            self._stripe = build_stripe_api(self._settings.stripe, os.environ)
        return self._stripe

    def stripe_cursors(self) -> CursorStore:
        if self._cursors is None:
            # Beside the alert state by default: one store to back up and to
            # point several monitor hosts at (PostgreSQL).
            url = self._settings.stripe.state_url or self._settings.state.url
            self._cursors = SqlCursorStore(open_state(url))
        return self._cursors

    def close(self) -> None:
        if self._engine is not None:
            # A check still running when the daemon stops is cancelled on the
            # server, not left to run on after the process is gone.
            cancelled = cancel_running(self._engine)
            if cancelled:
                log.warning("cancelled %d check queries still running", cancelled)
            self._engine.dispose()
        if self._stripe is not None:
            self._stripe.close()


def build_checks(settings: Settings, services: AppServices,
                 names: Sequence[str] | None = None) -> dict[str, PlannedCheck]:
    """The named checks (default: all). Only what is built needs its secrets:
    `check unbilled_orders` runs without a Stripe key."""
    return {
        name: PlannedCheck(CHECK_TYPES[opts.type].build(name, opts, services), opts)
        for name, opts in settings.checks.items() if names is None or name in names
    }


def missing_secrets(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Secrets the configured checks cannot run without (`validate`, `run`)."""
    stripe = [n for n, o in settings.checks.items() if isinstance(o, StripeCheckOptions)]
    if stripe and not env.get(API_KEY_ENV):
        return [f"environment: {API_KEY_ENV}: required by the Stripe checks "
                f"({', '.join(stripe)}); a restricted read-only key, see README 'Stripe checks'"]
    return []


def base_tags(settings: Settings) -> list[str]:
    return [f"env:{settings.monitor.env}", f"service:{settings.monitor.service}"]


def statsd_sink(settings: Settings, wrap: Callable[[StatsdClient], StatsdClient]) -> Sink:
    s = settings.statsd
    if not s.enabled:
        return NullSink("statsd")
    client = wrap(make_client(s.host, s.port, s.socket_path))
    return StatsdSink(client, s.namespace, [*base_tags(settings), *s.tags])


def _same(client: StatsdClient) -> StatsdClient:
    return client


def prometheus_sink(settings: Settings, metrics: MonitorMetrics | None) -> Sink:
    """In memory; served on /metrics by the daemon, which passes `metrics`."""
    if metrics is None:
        return NullSink("prometheus")
    return PrometheusSink(metrics, [*base_tags(settings), *settings.statsd.tags])


def build_sinks(
    settings: Settings,
    wrap_statsd: Callable[[StatsdClient], StatsdClient] = _same,
    metrics: MonitorMetrics | None = None,
    extra: Sequence[Sink] = (),
) -> list[Sink]:
    """Every sink, in delivery order; an unconfigured one is a NullSink.
    `extra` is the alert engine for `check` and the daemon (not the demo)."""
    return [statsd_sink(settings, wrap_statsd), prometheus_sink(settings, metrics), *extra]


def build_alerting(
    settings: Settings,
    notifiers: Mapping[str, Notifier],
    clock: Clock = utc_now,
    rand: Callable[[], float] = random.random,
    on_queued: Callable[[], None] = lambda: None,
) -> Alerting:
    """The state store (migrated), the alert engine and its dispatcher."""
    store = open_state(settings.state.url)
    o = settings.outbox
    backoff = Backoff(o.backoff_seconds, o.backoff_max_seconds, o.max_attempts,
                      timedelta(hours=o.max_age_hours), keep=timedelta(days=o.keep_days))
    m = settings.monitor
    sink = AlertEngine(store, settings.checks, sorted(notifiers), service=m.service,
                       env=m.env, source=socket.gethostname(), silences=settings.silences,
                       on_queued=on_queued, owner=settings.state.owner)
    sink.retire_removed(clock())
    return Alerting(store, sink, Dispatcher(store, notifiers, backoff=backoff, clock=clock,
                                            rand=rand))


def period_for(settings: Settings) -> Callable[[datetime], Period]:
    p = settings.period

    def period(now: datetime) -> Period:
        return current_period(p.kind, p.timezone, now, p.offset)

    return period


def build_runner(
    settings: Settings,
    services: AppServices,
    sinks: list[Sink],
    clock: Clock = utc_now,
    names: Sequence[str] | None = None,
) -> Runner:
    return Runner(
        build_checks(settings, services, names),
        sinks,
        period_for(settings),
        clock=clock,
        sample_limit=settings.monitor.sample_limit,
    )


def sink_summary(settings: Settings) -> Mapping[str, str]:
    """Where each sink sends, without secrets (for `validate`)."""
    s = settings.statsd
    where = f"unix://{s.socket_path}" if s.socket_path else f"udp://{s.host}:{s.port}"
    statsd = f"{where} namespace={s.namespace!r}" if s.enabled else "disabled"
    state = make_url(settings.state.url).render_as_string(hide_password=True)
    return {"statsd": statsd, **notifier_summary(settings, Secrets.from_env(os.environ)),
            "state": f"{state} (alert state and outbox)"}
