"""APScheduler 3 wiring: one job per check on its cron schedule, plus the
periodic jobs other parts register (e.g. the outbox dispatcher).

Every job coalesces missed runs, runs at most one instance at a time and
still runs when it starts late by up to the misfire grace time. A run that
is skipped (missed, or still running when due) is logged and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from billing_monitor.checks.crontab import crontab_trigger
from billing_monitor.settings.model import Settings
from billing_monitor.settings.sections import DaemonSection

log = logging.getLogger("billing_monitor.scheduler")

CHECK_PREFIX = "check:"


@dataclass(frozen=True)
class PeriodicJob:
    """A job run every `interval_seconds` beside the checks (e.g. outbox drain)."""

    name: str
    func: Callable[[], None]
    interval_seconds: float


class JobCounters(Protocol):
    def missed(self, job: str) -> None: ...

    def failed(self, job: str) -> None: ...


def make_scheduler(daemon: DaemonSection) -> BackgroundScheduler:
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=daemon.max_workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": daemon.misfire_grace_seconds,
        },
        timezone=ZoneInfo(daemon.timezone),
    )


def check_triggers(settings: Settings) -> dict[str, BaseTrigger]:
    d = settings.daemon
    tz = ZoneInfo(d.timezone)
    return {
        name: crontab_trigger(opts.schedule, tz, d.jitter_seconds or None)
        for name, opts in settings.checks.items()
    }


def apply_jobs(
    scheduler: BackgroundScheduler,
    triggers: Mapping[str, BaseTrigger],
    run_check: Callable[[str], Any],
    daemon: DaemonSection,
    *,
    run_now: bool = False,
) -> list[str]:
    """Make the scheduled check jobs exactly `triggers`; returns their ids."""
    wanted = {CHECK_PREFIX + name: name for name in triggers}
    for job in scheduler.get_jobs():
        if job.id.startswith(CHECK_PREFIX) and job.id not in wanted:
            job.remove()
    for job_id, name in wanted.items():
        extra: dict[str, Any] = {}
        if run_now:
            extra["next_run_time"] = datetime.now(scheduler.timezone)
        # Per job rather than scheduler-wide, so a reload applies a new grace time.
        scheduler.add_job(run_check, triggers[name], args=[name], id=job_id, name=job_id,
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=daemon.misfire_grace_seconds, **extra)
    return sorted(wanted)


def run_all_now(scheduler: BackgroundScheduler) -> int:
    """Make every check job due now; returns how many."""
    jobs = [j for j in scheduler.get_jobs() if j.id.startswith(CHECK_PREFIX)]
    for job in jobs:
        job.modify(next_run_time=datetime.now(scheduler.timezone))
    scheduler.wakeup()
    return len(jobs)


def add_periodic(scheduler: BackgroundScheduler, job: PeriodicJob) -> None:
    scheduler.add_job(job.func, IntervalTrigger(seconds=job.interval_seconds), id=job.name,
                      name=job.name, replace_existing=True)


def listen(scheduler: BackgroundScheduler, counters: JobCounters) -> None:
    """Log and count runs APScheduler skipped or that raised."""

    def on_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            log.error("job %s raised: %r", event.job_id, getattr(event, "exception", None))
            counters.failed(event.job_id)
        else:
            why = "missed its start" if event.code == EVENT_JOB_MISSED else "still running"
            log.warning("job %s skipped a run (%s)", event.job_id, why)
            counters.missed(event.job_id)

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)


def shortest_gap(triggers: Mapping[str, BaseTrigger], now: datetime) -> timedelta | None:
    """The shortest time between two consecutive runs of any job."""
    gaps = []
    for trigger in triggers.values():
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        if first and second:
            gaps.append(second - first)
    return min(gaps, default=None)


def max_cycle_age(now: datetime, settings: Settings) -> timedelta:
    """How old the last completed run may be before /healthz says the daemon
    is stuck: `[daemon] max_cycle_age_seconds`, or twice the shortest gap
    between runs plus the longest timeout and the misfire grace."""
    d = settings.daemon
    if d.max_cycle_age_seconds is not None:
        return timedelta(seconds=d.max_cycle_age_seconds)
    gap = shortest_gap(check_triggers(settings), now)
    timeout = max((o.timeout_seconds for o in settings.checks.values()), default=0.0)
    return 2 * (gap or timedelta(days=7)) + timedelta(seconds=timeout + d.misfire_grace_seconds)
