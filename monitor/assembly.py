"""The one place that builds the product: settings and the environment's
secrets in; checks, sinks, the runner, alerting (state store, alert engine,
outbox dispatcher) and the daemon's hooks out. Every command gets its parts
from here and only here, so `check`, `run`, `demo`, `validate` and
`test-alert` cannot drift apart. The only module that knows which concrete
classes make up the product.

Secrets come in as `env` (the process environment after systemd credentials
were loaded), read once by the command at the edge; nothing below reads
`os.environ`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from billing_monitor.alerting.dispatcher import Backoff, Dispatcher
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.lease import NotLeader
from billing_monitor.alerting.routes import first_lanes, router_for
from billing_monitor.alerting.runtime import Alerting, AlertingUnavailable, unavailable_message
from billing_monitor.alerting.store import open_state
from billing_monitor.alerts.config import Secrets
from billing_monitor.alerts.contract import Notifier, NullSink, Sink
from billing_monitor.alerts.notifiers import (
    build_heartbeat,
    build_liveness,
    build_notifiers,
    notifier_summary,
)
from billing_monitor.alerts.prometheus import MonitorMetrics, PrometheusSink
from billing_monitor.alerts.receiver_notifiers import build_receivers, receiver_summary
from billing_monitor.alerts.statsd import StatsdClient, StatsdSink, make_client
from billing_monitor.checking.runner import PlannedCheck, Runner
from billing_monitor.checking.scrub import Scrub, ScrubbingSink, same
from billing_monitor.checking.services import AppServices
from billing_monitor.checking.wiring import Wiring
from billing_monitor.checks.contract import Period
from billing_monitor.checks.period import current_period
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.checks.stripe.base import StripeCheckOptions
from billing_monitor.checks.stripe.config import API_KEY_ENV
from billing_monitor.clock import Clock, utc_now
from billing_monitor.daemon.hooks import AlertingHooks, Hooks
from billing_monitor.daemon.leading import build_role, keeper_for
from billing_monitor.daemon.scheduler import PeriodicJob
from billing_monitor.logs import describe_error
from billing_monitor.settings.model import Settings
from billing_monitor.settings.routes import missing_receiver_secrets

log = logging.getLogger("billing_monitor")


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
    own = missing_receiver_secrets(settings, env)
    return ([f"environment: {API_KEY_ENV}: required by the Stripe checks ({', '.join(stripe)}); "
             "a restricted read-only key, see README 'Stripe checks'"]
            if stripe and not env.get(API_KEY_ENV) else []) + own


def base_tags(settings: Settings) -> list[str]:
    return [f"env:{settings.monitor.env}", f"service:{settings.monitor.service}"]


def gauge_tags(settings: Settings) -> list[str]:
    """The tags of every gauge the monitor sends about itself."""
    return [*base_tags(settings), *settings.statsd.tags]


def statsd_sink(settings: Settings, wrap: Callable[[StatsdClient], StatsdClient]) -> Sink:
    s = settings.statsd
    if not s.enabled:
        return NullSink("statsd")
    client = wrap(make_client(s.host, s.port, s.socket_path))
    return StatsdSink(client, s.namespace, gauge_tags(settings))


def _same(client: StatsdClient) -> StatsdClient:
    return client


def prometheus_sink(settings: Settings, metrics: MonitorMetrics | None) -> Sink:
    """In memory; served on /metrics by the daemon, which passes `metrics`."""
    if metrics is None:
        return NullSink("prometheus")
    return PrometheusSink(metrics, gauge_tags(settings))


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
                       on_queued=on_queued, owner=settings.state.owner,
                       route=router_for(settings, notifiers))
    with contextlib.suppress(NotLeader):  # a standby: the leader retires them
        sink.retire_removed(clock())
    return Alerting(store, sink, Dispatcher(store, notifiers, backoff=backoff, clock=clock,
                                            rand=rand, first=first_lanes(settings)))


def build_all_notifiers(settings: Settings, env: Mapping[str, str],
                        verify: ssl.SSLContext | bool = True) -> dict[str, Notifier]:
    return {**build_notifiers(settings, Secrets.from_env(env), verify),
            **build_receivers(settings.receivers, env, verify)}


def open_alerting(settings: Settings, env: Mapping[str, str], clock: Clock = utc_now,
                  on_queued: Callable[[], None] = lambda: None
                  ) -> Alerting | AlertingUnavailable:
    """The state store, alert engine and dispatcher. An unreachable store does
    not stop the checks: their metrics still flow, /healthz says why."""
    try:
        return build_alerting(settings, build_all_notifiers(settings, env), clock=clock,
                              on_queued=on_queued)
    except SQLAlchemyError as exc:
        return AlertingUnavailable(describe_error(exc))


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


def build_offline(
    settings: Settings, env: Mapping[str, str], clock: Clock = utc_now, *,
    names: Sequence[str] | None = None,
    wrap_statsd: Callable[[StatsdClient], StatsdClient] | None = None,
) -> tuple[AppServices, list[Sink], Runner]:
    """The checks without alerting and without a state store: the demo (through
    the metric sinks, its recorder around DogStatsD) and `check --at` (no
    `wrap_statsd`: no sink at all, nothing is sent)."""
    services = AppServices(settings, env)
    sinks = [] if wrap_statsd is None else build_sinks(settings, wrap_statsd=wrap_statsd)
    return services, sinks, build_runner(settings, services, sinks, clock=clock, names=names)


def build_wiring(
    settings: Settings, metrics: MonitorMetrics | None, env: Mapping[str, str],
    clock: Clock = utc_now, scrub: Scrub = same, on_queued: Callable[[], None] = lambda: None,
    names: Sequence[str] | None = None,
) -> Wiring:
    """Everything one configuration runs: for the daemon (with `metrics`, served
    on /metrics) and for one `check` run (`names`: only those checks are built).
    An unreachable state store is logged once; the checks run without alerting."""
    services = AppServices(settings, env)
    opened = open_alerting(settings, env, clock, on_queued)
    if isinstance(opened, AlertingUnavailable):  # the checks' metrics are still worth sending
        log.error("%s; checks run without alerting",
                  unavailable_message(settings.state.url, opened.reason))
    clients: list[StatsdClient] = []

    def keep(client: StatsdClient) -> StatsdClient:
        clients.append(client)
        return client

    built = build_sinks(settings, wrap_statsd=keep, metrics=metrics, extra=[opened.sink])
    sinks: list[Sink] = [ScrubbingSink(s, scrub) for s in built]
    runner = build_runner(settings, services, sinks, clock=clock, names=names)
    return Wiring(settings, services, sinks, runner, opened, tuple(clients),
                  tuple(gauge_tags(settings)))


def build_hooks(settings: Settings, metrics: MonitorMetrics, current: Callable[[], Wiring],
                env: Mapping[str, str], on_gain: Callable[[], None] = lambda: None) -> Hooks:
    """The daemon's hooks: the lease (daemon/leading.py), outbox delivery, the
    heartbeat, liveness pings, a last drain at shutdown, the state-store probe."""
    secrets = Secrets.from_env(env)
    liveness = build_liveness(settings, secrets)
    keeper = keeper_for(build_role(settings, metrics, on_gain), on_gain)
    alerting = AlertingHooks(metrics, current, build_heartbeat(settings, secrets),
                             is_leader=keeper.role.is_leader)
    return Hooks(
        periodic=[PeriodicJob("heartbeat", alerting.beat, settings.liveness.heartbeat_seconds)],
        workers=[keeper, alerting.loop], wake=alerting.loop.wake,
        on_stop=[alerting.final_drain, liveness.close, alerting.close_heartbeat, keeper.stop],
        liveness=liveness, state_store=alerting.probe, state_store_configured=True,
        is_leader=keeper.role.is_leader, leadership=keeper.role.describe)


def sink_summary(settings: Settings, env: Mapping[str, str]) -> Mapping[str, str]:
    """Where each sink sends, without secrets (for `validate`)."""
    s = settings.statsd
    where = f"unix://{s.socket_path}" if s.socket_path else f"udp://{s.host}:{s.port}"
    statsd = f"{where} namespace={s.namespace!r}" if s.enabled else "disabled"
    state = make_url(settings.state.url).render_as_string(hide_password=True)
    return {"statsd": statsd, **notifier_summary(settings, Secrets.from_env(env)),
            **receiver_summary(settings.receivers, env), "state": f"{state} (alert state, outbox)"}
