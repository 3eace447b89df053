"""The alert engine, a Sink: for each check result it loads the check's alert
state, applies the check's policy and writes the new state, the last result
and the outbox rows the change causes, all in ONE transaction. Delivery is
the dispatcher's job (monitor/alerting/dispatcher.py).

Dedup keys (README "Alerting: dedup keys and policy"):
`{service}/{check}/{period}` for period-scoped checks, `{service}/{check}`
otherwise, `{service}/{check}/degraded` for "the monitor cannot run it".

Channels (receivers): a trigger goes where the routes send its check and
severity ("critical", "warning", or "degraded" for the degraded key), and to
every channel that already has the incident (a severity change or a reminder
reaches whoever was told); the incident remembers them all. A channel routed
while the incident is open gets the trigger at the next run, and the resolve
goes to every channel that had it. Without routes every configured channel
is the route, as before receivers existed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from billing_monitor.alerting import outbox
from billing_monitor.alerting import rows as alert_rows
from billing_monitor.alerting.policy import Event, Incident, Observation, Track, policy_for
from billing_monitor.alerting.sources import Router, Sources
from billing_monitor.alerting.tables import utc
from billing_monitor.alerting.text import notification
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Status
from billing_monitor.checks.policy import Silence
from billing_monitor.checks.thresholds import Thresholds
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.alerting")


def routed_severity(kind: str, severity: str) -> str:
    return "degraded" if kind == "degraded" else severity


def dedup_key(service: str, check: str, period: str, period_scoped: bool) -> str:
    return f"{service}/{check}/{period}" if period_scoped else f"{service}/{check}"


def degraded_key(service: str, check: str) -> str:
    return f"{service}/{check}/degraded"


def recovered(result: CheckResult, opts: CheckOptions) -> bool:
    """Every value is back past the recovery level (True when none is set)."""
    level = opts.alert.recovery
    if level is None:
        return True
    back = Thresholds(warning=level, comparator=opts.thresholds.comparator)
    return all(back.evaluate(e.measurement.value)[0] is Status.OK for e in result.evaluations)


class AlertEngine:
    """Sink that turns results into alert state and outbox rows."""

    name = "alerting"

    def __init__(
        self,
        engine: Engine,
        checks: Mapping[str, CheckOptions],
        channels: Sequence[str],
        *,
        service: str,
        env: str,
        source: str,
        silences: Sequence[Silence] = (),
        on_queued: Callable[[], None] = lambda: None,
        owner: str | None = None,
        route: Router | None = None,
    ) -> None:
        self._engine = engine
        self._checks = checks
        self._channels = tuple(channels)
        self._service = service
        self._env = env
        self._source = source
        self._silences = tuple(silences)
        self._on_queued = on_queued
        self._owner = owner or source  # `[state] owner`, else the host
        self._pruned_at: datetime | None = None  # the measurement history's last prune
        self._route: Router = route or (lambda check, severity: self._channels)
        self._sources = Sources(checks, self._route, service=service, env=env, source=source)

    def emit(self, result: CheckResult) -> None:
        opts = self._checks[result.check]
        now = result.started_at
        main_key = dedup_key(self._service, result.check, result.period.label,
                             opts.alert.period_scoped)
        # With no notifier in this process (say, a manual run without the
        # secrets) notifications are held, not lost: see policy.py.
        obs = Observation(result.status, main_key, recovered(result, opts), now,
                          deliverable=bool(self._channels))
        try:
            try:
                queued, muted = self._record(result, opts, obs, main_key)
            except DBAPIError as exc:
                # The store's engine lives as long as the process and does not
                # ping each checkout: a connection the server dropped (a
                # restart, a failover) fails its first statement and is
                # discarded with the pool; the transaction is then run again
                # once, on a new connection. Nothing was committed.
                if not exc.connection_invalidated:
                    raise
                log.warning("state store connection lost, reconnecting: %s", describe_error(exc))
                queued, muted = self._record(result, opts, obs, main_key)
        except SQLAlchemyError as exc:  # an incident that is not recorded is not paged
            log.error("state store did not take the alert state of %s: %s", result.check,
                      describe_error(exc))
            raise
        if queued:
            self._on_queued()  # committed: the daemon's delivery loop sends it now
        if muted and result.status is not Status.OK:
            log.info("check %s is silenced: state updated, no notification", result.check)
        if not self._channels and result.status is not Status.OK:
            log.warning("no notifier is configured in this process: alerts for %s are held "
                        "for a run that has one", result.check)

    def _record(self, result: CheckResult, opts: CheckOptions, obs: Observation,
                main_key: str) -> tuple[int, bool]:
        """One transaction: the new state, the last run, the outbox rows.
        Returns how many rows were queued, and whether the check is silenced."""
        now = result.started_at
        with self._engine.begin() as conn:
            track, seq, deg_stored = alert_rows.load_track(
                conn, result.check, main_key, degraded_key(self._service, result.check),
                self._owner)
            muted = alert_rows.silenced(conn, self._silences, result.check, now)
            streak = track.unknown + 1 if result.status is Status.UNKNOWN else 0
            held, down = self._sources.observe(conn, result, streak,
                                               muted or not obs.deliverable)
            queued = sum(self._enqueue(conn, n, targets) for n, targets in down)
            muted_or_held = muted or held  # a source down holds the degraded alert
            out = policy_for(opts.alert).step(track, obs, muted_or_held)
            incidents: dict[str, Incident] = {}
            for inc in filter(None, (out.superseded, out.track.main, out.track.degraded)):
                events = [ev for ev in out.events if ev.key == inc.key]
                inc, n = self._queue(conn, inc, events, result, opts, out.track,
                                     muted_or_held or not obs.deliverable)
                incidents[inc.key] = inc
                queued += n
            main, degraded = incidents[out.track.main.key], incidents[out.track.degraded.key]
            if out.superseded is not None:
                alert_rows.save(conn, incidents[out.superseded.key], result.check, "status",
                                seq, now, None, self._owner)
            if main.key != track.main.key:
                seq += 1  # the new key is now the check's latest (load_track)
            # The streak counters come from the track; the incidents, as queued.
            alert_rows.save(conn, main, result.check, "status", seq, now, out.track,
                            self._owner)
            if not (deg_stored and degraded == track.degraded):  # nothing changed: no write
                alert_rows.save(conn, degraded, result.check, "degraded", 0, now, None,
                                self._owner)
            alert_rows.record_run(conn, result)
            self._prune(conn, now)
        return queued, muted

    def _prune(self, conn: Connection, now: datetime) -> None:
        """The measurement history keeps 35 days: older buckets go, once an hour."""
        if self._pruned_at is None or abs((now - self._pruned_at).total_seconds()) >= 3600:
            alert_rows.prune_history(conn, utc(now))
            self._pruned_at = now

    def _queue(self, conn: Connection, inc: Incident, events: list[Event],
               result: CheckResult, opts: CheckOptions, track: Track,
               hold: bool) -> tuple[Incident, int]:
        """Queue the incident's events, each to the channels it concerns, and
        a catch-up trigger to channels that joined while it was open."""
        queued = 0
        sent_to = set(inc.channels)  # the policy keeps them; a new incident has none
        kind = "degraded" if inc.key.endswith("/degraded") else "status"
        for ev in events:
            if ev.action == "resolve":
                # Every channel that had the trigger (a store from before
                # channels were kept: every channel configured).
                targets = sorted(sent_to) or list(self._channels)
                sent_to = set()
            else:
                routed = self._route(result.check, routed_severity(ev.kind, ev.severity))
                targets = [*routed, *sorted(sent_to - set(routed))]
                sent_to |= set(targets)
            queued += self._enqueue(conn, notification(
                ev, result, opts, track, service=self._service, env=self._env,
                source=self._source), targets)
        routed = self._route(result.check, routed_severity(kind, inc.notified or "warning"))
        late = [c for c in routed if c not in sent_to]
        if inc.open and inc.notified and late and not hold and sent_to:
            ev = Event(inc.key, "trigger", "degraded" if kind == "degraded" else "open",
                       inc.notified, kind)
            queued += self._enqueue(conn, notification(
                ev, result, opts, track, service=self._service, env=self._env,
                source=self._source), late)
            sent_to |= set(late)
            log.info("alert %s is open: its trigger is queued for %s, configured since",
                     inc.key, ", ".join(late))
        return replace(inc, channels=frozenset(sent_to)), queued

    def _enqueue(self, conn: Connection, n: Notification, channels: Sequence[str]) -> int:
        outbox.enqueue(conn, n, channels, n.occurred_at)
        log.info("alert %s %s (%s) queued for %s", n.action, n.dedup_key, n.reason,
                 ", ".join(channels) or "no channel")
        return len(channels)

    def retire_removed(self, now: datetime) -> list[str]:
        """Resolve the open incidents of checks no longer in this configuration
        (every trigger is eventually matched by a resolve, even when the check
        that raised it was deleted), and forget their state, so a check put
        back while still failing alerts again. Returns the dedup keys resolved."""
        resolved: list[str] = []
        if not self._channels:  # no notifier here: leave it to a process that has one
            return resolved
        with self._engine.begin() as conn:
            for row in alert_rows.removed_open(conn, list(self._checks), self._owner):
                if row.notified_severity is not None:  # never sent: nothing to resolve
                    targets = sorted(alert_rows.channels_of(row.notified_channels))
                    self._enqueue(conn, Notification(
                        action="resolve", reason="resolve", dedup_key=row.dedup_key,
                        check=row.check_name, severity=row.notified_severity,
                        summary=f"RESOLVED: {self._service} {row.check_name}: the check was "
                                "removed from the configuration",
                        source=self._source, occurred_at=utc(now), component=row.check_name,
                        group=self._service,
                        custom_details={"check": row.check_name, "reason": "check removed"},
                    ), targets or self._channels)
                alert_rows.forget(conn, row.check_name, now)
                resolved.append(row.dedup_key)
                log.info("alert %s resolved: check %s is no longer configured",
                         row.dedup_key, row.check_name)
        if resolved:
            self._on_queued()
        return resolved

    def close(self) -> None:
        return None
