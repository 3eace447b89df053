"""The daemon's side of the lease (alerting/leadership.py): a thread that
renews it every third of its length, the gauges, and what happens at a change
of holder. Only the leader runs checks (so only it reads Stripe and sends
gauges) and delivers the outbox; a standby serves /healthz and /metrics and
says it is standing by. A new leader first runs, once, every check whose
scheduled run fell in the handover (the last recorded run in `check_runs` is
older than the schedule's latest time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from billing_monitor.alerting.leadership import Leadership, Role, SoleLeader
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import check_runs, utc
from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.daemon import scheduler as sched
from billing_monitor.settings.model import Settings

log = logging.getLogger("billing_monitor.leadership")


def build_role(settings: Settings, metrics: MonitorMetrics,
               on_gain: Callable[[], None]) -> Role:
    """PostgreSQL store: a lease among the instances sharing it. SQLite: the
    single instance, always the leader."""
    url = settings.state.url
    if make_url(url).get_backend_name() != "postgresql":
        metrics.leader.set(1)
        return SoleLeader()

    def changed(leader: bool, epoch: int) -> None:
        metrics.leader.set(1 if leader else 0)
        metrics.lease_epoch.set(epoch)
        if leader:
            on_gain()

    metrics.leader.set(0)
    role = Leadership(open_state(url), settings.state.lease_seconds, on_change=changed)
    # Decided and fenced before the daemon builds its wiring: a standby's start
    # writes nothing either.
    role.tick()
    role.install_fence()
    return role


class LeaseKeeper:
    """Takes or renews the lease every third of its length, on its own thread
    (a busy scheduler pool never delays it); releases it at a clean stop."""

    def __init__(self, role: Role, interval_s: float,
                 on_gain: Callable[[], None] = lambda: None) -> None:
        self.role = role
        self._on_gain = on_gain
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def start(self) -> None:
        """With the daemon: a leader elected while it was being built catches up now."""
        if isinstance(self.role, Leadership) and self.role.is_leader():
            self._on_gain()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.role.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.role.release()
        self.role.remove_fence()


def keeper_for(role: Role, on_gain: Callable[[], None] = lambda: None) -> LeaseKeeper:
    seconds = role.seconds if isinstance(role, Leadership) else 60.0
    return LeaseKeeper(role, seconds / 3, on_gain)


def missed_runs(scheduler: BaseScheduler, settings: Settings, store: Engine,
                now: datetime, window: timedelta) -> list[str]:
    """Checks whose latest scheduled time within `window` before `now` has no
    recorded run since: made due now (they run once), returned by name."""
    triggers = sched.check_triggers(settings)
    with store.connect() as conn:
        last = {r.check_name: utc(r.started_at)
                for r in conn.execute(select(check_runs.c.check_name, check_runs.c.started_at))}
    due: list[str] = []
    for job in scheduler.get_jobs():
        if not job.id.startswith(sched.CHECK_PREFIX) or not job.args:
            continue
        name = str(job.args[0])
        trigger = triggers.get(name)
        if trigger is None:
            continue
        since = max(last.get(name) or now - window, now - window)
        fire = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
        if fire is not None and fire <= now:
            job.modify(next_run_time=now)
            due.append(name)
    if due and scheduler.running:  # not yet started: it reads next_run_time at start
        scheduler.wakeup()
    if due:
        log.info("new leader: running %d checks whose run fell in the handover: %s",
                 len(due), ", ".join(sorted(due)))
    return due
