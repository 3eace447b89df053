"""`billing-monitor run`: the checks on their schedules, until told to stop.

Steps that can each be tested by calling them: `run_check` (one job),
`reload` (SIGHUP), `run_all_now` (SIGUSR1), `health` (/healthz), `stop`
(SIGTERM/SIGINT). `serve_forever` is the main-thread loop that turns signals
into those steps and pings the systemd watchdog.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.checking.scrub import Scrub, same, scrub_result
from billing_monitor.checking.wiring import Wiring, WiringFactory
from billing_monitor.checks.contract import RunReport
from billing_monitor.checks.errors import ConfigError
from billing_monitor.clock import Clock, utc_now
from billing_monitor.daemon import scheduler as sched
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.daemon.signals import RELOAD_SIGNALS, RUN_NOW_SIGNALS, InFlight, SignalInbox
from billing_monitor.daemon.systemd import Notifier, reloading_message
from billing_monitor.logs import check_run_fields, describe_error
from billing_monitor.settings.model import Settings

log = logging.getLogger("billing_monitor.daemon")


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        load: Callable[[], Settings],
        build: WiringFactory,
        metrics: MonitorMetrics,
        hooks: Hooks,
        notifier: Notifier,
        scheduler: BackgroundScheduler | None = None,
        clock: Clock = utc_now,
        watchdog_s: float | None = None,
        scrub: Scrub = same,
    ) -> None:
        self._load = load
        self._build = build
        self.metrics = metrics
        self._hooks = hooks
        self._notifier = notifier
        self._clock = clock
        self._watchdog_s = watchdog_s
        self._scrub = scrub
        self._inflight = InFlight()
        self._retired: list[Wiring] = []
        self._stopping = False
        self.wiring = build(settings, metrics)
        self.scheduler = scheduler or sched.make_scheduler(settings.daemon)
        sched.listen(self.scheduler, metrics)
        self.started_at = clock()
        self.last_cycle: datetime | None = None
        self.max_cycle_age = sched.max_cycle_age(self._clock(), settings)

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    def start(self, *, run_now: bool = False) -> None:
        self._schedule(run_now=run_now)
        for job in self._hooks.periodic:
            sched.add_periodic(self.scheduler, job)
        for worker in self._hooks.workers:
            worker.start()
        self.scheduler.start()
        self._notifier.notify(f"READY=1\n{self._status()}")
        log.info("started: %d checks scheduled (%s)", len(self.settings.checks),
                 self.settings.daemon.timezone)

    def run_check(self, name: str) -> RunReport | None:
        """One scheduled job: run the check, deliver, then the after-run hooks."""
        with self._inflight:
            wiring = self.wiring
            # Removed by a reload meanwhile, or queued in the pool when a stop came.
            # A standby runs nothing: the leader does (daemon/leading.py).
            if name not in wiring.runner.checks or self._stopping or not self._hooks.is_leader():
                return None
            rid = str(uuid.uuid4())
            self._call("liveness.start", self._hooks.liveness.start, rid)
            report = wiring.runner.run([name])
            report.results = [scrub_result(r, self._scrub) for r in report.results]
            for result in report.results:
                log.info("check %s %s in %.3fs", result.check, result.status.label,
                         result.duration_s, extra=check_run_fields(result.to_dict()))
            for sink, _check, _error in report.sink_errors:
                self.metrics.sink_errors.labels(sink).inc()
            for hook in self._hooks.after_run:
                self._call(getattr(hook, "__name__", "after_run"), hook, report)
            # The ping says "the monitor ran a check". A check that could not
            # run is the degraded alert's business: a /fail here would flip the
            # whole monitor down and up again as checks on other schedules pass.
            errors = "; ".join(f"{r.check}: {r.error}" for r in report.results if r.error)
            self._call("liveness.success", self._hooks.liveness.success, rid, errors)
            self.last_cycle = self._clock()
            self.metrics.last_cycle.set(self.last_cycle.timestamp())
            return report

    def reload(self) -> bool:
        """Validate the new configuration first; keep the running one if invalid."""
        self._notifier.notify(reloading_message())
        try:
            settings = self._load()
            wiring = self._build(settings, self.metrics)
        except ConfigError as exc:
            log.error("reload rejected, keeping the running configuration: %s",
                      "; ".join(exc.problems))
            self.metrics.reloads.labels("rejected").inc()
            self._notifier.notify("READY=1")
            return False
        except Exception as exc:
            log.error("reload failed, keeping the running configuration: %s",
                      describe_error(exc))
            self.metrics.reloads.labels("failed").inc()
            self._notifier.notify("READY=1")
            return False
        self._retired.append(self.wiring)
        self.wiring = wiring
        self.max_cycle_age = sched.max_cycle_age(self._clock(), settings)
        self._schedule()
        self.metrics.forget(settings.checks)
        self._close_retired(only_if_idle=True)
        self.metrics.reloads.labels("applied").inc()
        log.info("configuration reloaded from %s: %d checks scheduled", settings.source,
                 len(settings.checks))
        self._notifier.notify(f"READY=1\n{self._status()}")
        return True

    def run_all_now(self) -> int:
        count = sched.run_all_now(self.scheduler)
        log.info("running all %d checks now (SIGUSR1)", count)
        return count

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = self._clock()
        reasons = []
        alive = self.scheduler.state == STATE_RUNNING
        if not alive:
            reasons.append("scheduler is not running")
        since = self.last_cycle or self.started_at
        age = (now - since).total_seconds()
        if age > self.max_cycle_age.total_seconds() and self._hooks.is_leader():
            what = "last completed check run" if self.last_cycle else "start (no run yet)"
            reasons.append(f"{what} was {age:.0f}s ago, more than "
                           f"{self.max_cycle_age.total_seconds():.0f}s")
        store = self._call("state_store_probe", self._hooks.state_store, default="probe failed")
        if store is not None:
            reasons.append(f"state store unreachable: {store}")
        body: dict[str, Any] = {
            "status": "ok" if not reasons else "unhealthy",
            "reasons": reasons,
            "scheduler": "running" if alive else "stopped",
            "checks": sorted(self.settings.checks),
            "last_cycle": self.last_cycle.isoformat() if self.last_cycle else None,
            "last_cycle_age_s": round(age, 3),
            "max_cycle_age_s": self.max_cycle_age.total_seconds(),
            "state_store": ("reachable" if store is None else "unreachable")
            if self._hooks.state_store_configured else "not configured",
            "leadership": self._hooks.leadership(),
        }
        return not reasons, body

    def stop(self, timeout: float | None = None) -> bool:
        """Stop scheduling, let in-flight checks finish within the bound, run
        the stop hooks, close the sinks. False if something was still running."""
        self._notifier.notify("STOPPING=1")
        self._stopping = True
        bound = self.settings.daemon.shutdown_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + bound
        log.info("stopping: waiting up to %gs for %d running checks", bound,
                 self._inflight.count)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        finished = self._inflight.wait_idle(max(0.0, deadline - time.monotonic()))
        if not finished:
            log.warning("stopping with %d checks still running after %gs",
                        self._inflight.count, bound)
        self._run_stop_hooks(deadline)
        self._retired.append(self.wiring)
        self._close_retired(only_if_idle=False)
        return finished

    def serve_forever(self, inbox: SignalInbox) -> None:
        """Until SIGTERM/SIGINT: reload on SIGHUP, run all on SIGUSR1, and
        ping the watchdog while the scheduler is alive."""
        while True:
            for signum in inbox.wait(self._watchdog_s):
                if signum in RELOAD_SIGNALS:
                    self.reload()
                elif signum in RUN_NOW_SIGNALS:
                    self.run_all_now()
                else:
                    log.info("received %s", signal.Signals(signum).name)
                    return
            if self._watchdog_s is not None and self.scheduler.state == STATE_RUNNING:
                self._notifier.notify("WATCHDOG=1")

    def _schedule(self, *, run_now: bool = False) -> None:
        triggers = sched.check_triggers(self.settings)
        jobs = sched.apply_jobs(self.scheduler, triggers, self.run_check, self.settings.daemon,
                                run_now=run_now)
        self.metrics.jobs_scheduled.set(len(jobs))

    def _status(self) -> str:
        return f"STATUS=running {len(self.settings.checks)} checks"

    def _run_stop_hooks(self, deadline: float) -> None:
        """E.g. a last outbox drain; abandoned (logged) at the shutdown bound."""
        for hook in self._hooks.on_stop:
            name = getattr(hook, "__name__", "on_stop")
            worker = threading.Thread(target=self._call, args=(name, hook), daemon=True,
                                      name=f"stop-{name}")
            worker.start()
            # At least a moment even when in-flight checks used the whole bound.
            worker.join(max(2.0, deadline - time.monotonic()))
            if worker.is_alive():
                log.warning("stop hook %s still running at the shutdown bound; abandoned", name)

    def _close_retired(self, *, only_if_idle: bool) -> None:
        if only_if_idle and self._inflight.count:
            return
        while self._retired:
            self._retired.pop().close()

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            log.error("hook %s failed: %s", what, describe_error(exc))
            self.metrics.jobs_failed.labels(f"hook:{what}").inc()
            return default
