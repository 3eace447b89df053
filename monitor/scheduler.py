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
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.settings import DaemonSection, Settings

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


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str) -> int:
    return _DAYS.index(token.lower()) if token.lower() in _DAYS else int(token) % 7


def crontab_day_of_week(field: str) -> str:
    """Crontab weekdays (0 or 7 = Sunday) as APScheduler 3 names.

    APScheduler 3 reads the numbers with 0 = Monday, so "30 5 * * 4" (Thursday
    in crontab, as in the source article) would run on Friday. Expanding every
    item to explicit day names keeps crontab's meaning."""
    days: list[int] = []
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            lo, hi = base.split("-", 1)
            first, last = _day(lo), _day(hi) if hi != "7" else 7
        else:
            first = _day(base)
            last = 6 if step_text else first
        days.extend(d % 7 for d in range(first, last + 1, step))
    if sorted(set(days)) == list(range(7)):
        return "*"
    return ",".join(_DAYS[d] for d in sorted(set(days)))


def crontab_trigger(expr: str, timezone: ZoneInfo, jitter: int | None = None) -> CronTrigger:
    minute, hour, day, month, dow = expr.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_day_of_week(dow), timezone=timezone, jitter=jitter)


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
