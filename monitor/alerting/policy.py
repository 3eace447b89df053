"""Alert policy: when a run of check results opens, changes or resolves an
incident. Pure: state and an observation in, new state and events out; the
alert engine (monitor/alerting/engine.py) stores both in one transaction.

Rules (README "Alerting: dedup keys and policy"):
- WARN/CRIT count towards `trigger_after`; an incident opens at the severity
  of the run that reached the count. While open, a different severity is an
  escalate/deescalate event on the SAME key.
- OK counts towards `resolve_after`, but only when the value is back past
  `recovery` (hysteresis); an OK run short of it resets the OK streak.
- UNKNOWN (the check could not run) tells nothing about billing: it leaves the
  incident and the WARN/CRIT/OK streaks alone and counts towards
  `degraded_after`, which opens a separate warning-level "monitor degraded"
  incident, resolved by the next run that produced a value.
- Muted (silenced) runs update state but queue no trigger; a resolve of an
  incident that was notified is never muted (every trigger gets its resolve).
  When the silence ends and the incident is still open, the next run notifies.
- Held runs (`Observation.deliverable` false: the process has no notifier to
  queue for, e.g. a manual run without the secrets) change no notification
  state at all and do not roll the period over, so a later run that can
  deliver sends whatever is due, resolves included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from billing_monitor.alerts.contract import Reason, Severity
from billing_monitor.checks.contract import Status
from billing_monitor.checks.policy import AlertPolicy

SEVERITY: dict[Status, Severity] = {Status.WARN: "warning", Status.CRIT: "critical"}
_RANK: dict[str | None, int] = {None: 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


@dataclass(frozen=True)
class Incident:
    """One dedup key's incident. `notified` is the severity last queued as a
    trigger (None: nothing queued, e.g. opened while silenced)."""

    key: str
    open: bool = False
    severity: Severity | None = None
    opened_at: datetime | None = None
    notified: Severity | None = None
    last_notified_at: datetime | None = None
    # The channels the trigger was queued for (kept by the alert engine): a
    # channel configured later still gets it, and the resolve goes to each.
    channels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Track:
    """A check's alert state: streak counters plus its two incidents."""

    check: str
    main: Incident
    degraded: Incident
    status: Status | None = None
    since: datetime | None = None
    bad: int = 0
    ok: int = 0
    unknown: int = 0


@dataclass(frozen=True)
class Observation:
    status: Status
    key: str  # the main dedup key for this run's period
    recovered: bool = True  # value back past the recovery threshold
    at: datetime = datetime.min
    deliverable: bool = True  # False: hold every notification for a later run


@dataclass(frozen=True)
class Event:
    key: str
    action: str  # "trigger" | "resolve"
    reason: Reason
    severity: Severity
    kind: str  # "status" | "degraded"


@dataclass(frozen=True)
class Outcome:
    track: Track
    events: tuple[Event, ...]
    superseded: Incident | None = None  # the previous period's incident, now closed


class Policy(Protocol):
    def step(self, track: Track, obs: Observation, muted: bool) -> Outcome: ...


def _counters(t: Track, obs: Observation) -> Track:
    since = t.since if t.status is obs.status and t.since is not None else obs.at
    if obs.status is Status.UNKNOWN:
        return replace(t, status=obs.status, since=since, unknown=t.unknown + 1)
    if obs.status is Status.OK:
        ok = t.ok + 1 if obs.recovered else 0
        return replace(t, status=obs.status, since=since, bad=0, ok=ok, unknown=0)
    return replace(t, status=obs.status, since=since, bad=t.bad + 1, ok=0, unknown=0)


def _notify(inc: Incident, kind: str, obs: Observation, muted: bool,
            renotify: timedelta | None) -> tuple[Incident, list[Event]]:
    """Queue what the incident's notified state lacks."""
    at = obs.at
    if not obs.deliverable:
        return inc, []
    if not inc.open:
        if inc.notified is None:
            return inc, []
        ev = Event(inc.key, "resolve", "resolve", inc.notified, kind)
        return replace(inc, notified=None, last_notified_at=at), [ev]
    assert inc.severity is not None
    if muted:
        return inc, []
    reason: Reason | None = None
    if inc.notified is None:
        reason = "degraded" if kind == "degraded" else "open"
    elif inc.notified != inc.severity:
        up = _RANK[inc.severity] > _RANK[inc.notified]
        reason = "escalate" if up else "deescalate"
    elif renotify and inc.last_notified_at and at - inc.last_notified_at >= renotify:
        reason = "renotify"
    if reason is None:
        return inc, []
    ev = Event(inc.key, "trigger", reason, inc.severity, kind)
    return replace(inc, notified=inc.severity, last_notified_at=at), [ev]


class ThresholdPolicy:
    """The policy configured by an enabled `AlertPolicy`."""

    def __init__(self, cfg: AlertPolicy) -> None:
        self.cfg = cfg
        self._renotify = (
            timedelta(minutes=cfg.renotify_minutes) if cfg.renotify_minutes else None
        )

    def step(self, track: Track, obs: Observation, muted: bool) -> Outcome:
        t = _counters(track, obs)
        events: list[Event] = []
        superseded = None
        main = t.main
        if main.key != obs.key and obs.status is not Status.UNKNOWN and obs.deliverable:
            # The period rolled over: the old key can never be updated again.
            old, evs = _notify(replace(main, open=False), "status", obs, muted, None)
            events += evs
            superseded = old if main.open or evs else None
            main = Incident(obs.key)
        if obs.status in SEVERITY:
            sev = SEVERITY[obs.status]
            if main.open:
                main = replace(main, severity=sev)
            elif t.bad >= self.cfg.trigger_after:
                main = replace(main, open=True, severity=sev, opened_at=obs.at)
        elif obs.status is Status.OK and main.open and t.ok >= self.cfg.resolve_after:
            main = replace(main, open=False)
        main, evs = _notify(main, "status", obs, muted, self._renotify)
        events += evs
        deg = t.degraded
        if obs.status is Status.UNKNOWN and t.unknown >= self.cfg.degraded_after and not deg.open:
            deg = replace(deg, open=True, severity="warning", opened_at=obs.at)
        elif obs.status is not Status.UNKNOWN and deg.open:
            deg = replace(deg, open=False)
        deg, evs = _notify(deg, "degraded", obs, muted, self._renotify)
        events += evs
        return Outcome(replace(t, main=main, degraded=deg), tuple(events), superseded)


class NoAlerts:
    """`enabled = false`: results are recorded, nothing ever opens. An incident
    already notified before alerting was switched off is still resolved."""

    def step(self, track: Track, obs: Observation, muted: bool) -> Outcome:
        t = _counters(track, obs)
        main, e1 = _notify(replace(t.main, open=False), "status", obs, False, None)
        deg, e2 = _notify(replace(t.degraded, open=False), "degraded", obs, False, None)
        return Outcome(replace(t, main=main, degraded=deg), (*e1, *e2))


def policy_for(cfg: AlertPolicy) -> Policy:
    return ThresholdPolicy(cfg) if cfg.enabled else NoAlerts()
