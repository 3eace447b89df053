"""The daemon's steps, called directly with an injected clock: a job, a
reload, the health probe, a stop. The scheduler is real but its jobs are not
left to fire on the wall clock."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.triggers.date import DateTrigger

from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.assembly import build_wiring
from billing_monitor.checks.contract import RunReport, Status
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.daemon.loop import Daemon
from billing_monitor.settings.load import load_settings
from tests.daemon_helpers import NOW, make_demo_db, write_config
from tests.peers.statsd import UdpListener


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, state: str) -> bool:
        self.sent.append(state)
        return True


class Liveness:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[str] = []

    def start(self, rid: str) -> None:
        self.calls.append(("start", rid))

    def success(self, rid: str, body: str = "") -> None:
        self.calls.append(("success", rid))
        self.bodies.append(body)

    def fail(self, rid: str, body: str = "") -> None:
        self.calls.append(("fail", body))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config(tmp_path: Path, statsd: UdpListener) -> Path:
    return write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path),
                        statsd_port=statsd.port)


def make_daemon(config: Path, hooks: Hooks | None = None, clock: Clock | None = None,
                notifier: Recorder | None = None) -> Daemon:
    settings = load_settings(config, {})
    clk = clock or Clock(NOW)
    return Daemon(
        settings, load=lambda: load_settings(config, {}),
        build=lambda s, m: build_wiring(s, m, os.environ, clock=clk), metrics=MonitorMetrics(),
        hooks=hooks or Hooks(), notifier=notifier or Recorder(), clock=clk,
    )


@pytest.fixture
def daemon(config: Path) -> Iterator[Daemon]:
    d = make_daemon(config)
    yield d
    if d.scheduler.running:
        d.scheduler.shutdown(wait=False)


def sample(d: Daemon, name: str, **labels: str) -> float | None:
    return d.metrics.registry.get_sample_value(name, labels)


def test_a_job_runs_the_check_through_every_sink(config: Path, statsd: UdpListener) -> None:
    reports: list[RunReport] = []
    liveness = Liveness()
    d = make_daemon(config, Hooks(after_run=[reports.append], liveness=liveness))
    report = d.run_check("unbilled_orders")
    assert report is not None and report.results[0].status is Status.CRIT
    assert reports == [report]
    assert [c[0] for c in liveness.calls] == ["start", "success"]
    lines = statsd.receive(4)
    assert lines[0] == ("billing.unbilled_orders:14|g|#env:test,service:billing,team:billing,"
                        "check:unbilled_orders")
    assert sample(d, "billing_unbilled_orders", check="unbilled_orders", env="test",
                  service="billing", team="billing") == 14
    assert sample(d, "billing_check_status", check="unbilled_orders") == 2
    assert sample(d, "billing_check_runs_total", check="unbilled_orders", status="CRIT") == 1
    assert d.last_cycle == NOW
    assert sample(d, "billing_scheduler_last_cycle_timestamp_seconds") == NOW.timestamp()


def test_a_failing_hook_is_isolated_and_counted(config: Path) -> None:
    def broken(report: RunReport) -> None:
        raise RuntimeError("state store down")

    liveness = Liveness()
    d = make_daemon(config, Hooks(after_run=[broken], liveness=liveness))
    assert d.run_check("failed_charges") is not None
    assert sample(d, "billing_scheduler_jobs_failed_total", job="hook:broken") == 1
    assert [c[0] for c in liveness.calls] == ["start", "success"]


def test_a_check_whose_database_is_gone_is_unknown_and_the_ping_carries_it(
    config: Path, tmp_path: Path
) -> None:
    liveness = Liveness()
    d = make_daemon(config, Hooks(liveness=liveness))
    (tmp_path / "billing-demo.db").unlink()
    report = d.run_check("unbilled_orders")
    assert report is not None and report.results[0].status is Status.UNKNOWN
    assert sample(d, "billing_check_errors_total", check="unbilled_orders") == 1
    # success, not /fail: one check that cannot run must not flap the whole
    # monitor's liveness; it raises the degraded alert instead.
    assert [c[0] for c in liveness.calls] == ["start", "success"]
    assert "unbilled_orders: OperationalError" in liveness.bodies[-1]


def test_reload_with_a_broken_config_keeps_the_running_one(
    daemon: Daemon, config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Recorder()
    daemon._notifier = notifier
    daemon.start()
    del notifier.sent[:]
    config.write_text(config.read_text() + "\n[checks.unbilled_orders.bogus]\n", "utf-8")
    with caplog.at_level(logging.ERROR):
        assert daemon.reload() is False
    assert "reload rejected" in caplog.text and "checks.unbilled_orders.bogus" in caplog.text
    assert sorted(daemon.settings.checks) == ["failed_charges", "unbilled_orders"]
    assert [m.split("\n")[0] for m in notifier.sent] == ["RELOADING=1", "READY=1"]
    assert sample(daemon, "billing_config_reloads_total", result="rejected") == 1
    assert daemon.run_check("unbilled_orders") is not None


def test_reload_with_a_valid_config_reschedules(daemon: Daemon, config: Path) -> None:
    daemon.start()
    config.write_text(config.read_text().replace(
        '[checks.failed_charges]\nschedule = "30 5 * * 4"',
        '[checks.failed_charges]\nschedule = "*/10 * * * 1-5"'
    ) + '\n[checks.refunds]\ntype = "sql"\nquery = "SELECT 1"\n', "utf-8")
    assert daemon.reload() is True
    jobs = {j.id: j for j in daemon.scheduler.get_jobs()}
    assert sorted(jobs) == ["check:failed_charges", "check:refunds", "check:unbilled_orders"]
    assert str(jobs["check:failed_charges"].trigger.fields[4]) == "mon,tue,wed,thu,fri"
    assert sample(daemon, "billing_scheduler_jobs") == 3
    assert daemon.max_cycle_age < timedelta(days=1)  # now driven by the 10-minute check


def test_stop_waits_for_in_flight_checks_within_the_bound(daemon: Daemon) -> None:
    stopped: list[str] = []
    daemon._hooks = Hooks(on_stop=[lambda: stopped.append("drained")])
    daemon.start()
    release = threading.Event()
    held = threading.Event()

    def in_flight() -> None:
        with daemon._inflight:
            held.set()
            release.wait(10)

    worker = threading.Thread(target=in_flight)
    worker.start()
    held.wait(5)
    assert daemon.stop(timeout=0.05) is False  # bounded: does not wait for the stuck one
    assert stopped == ["drained"]
    release.set()
    worker.join()
    assert not daemon.scheduler.running


def test_stop_notifies_and_closes_sinks(daemon: Daemon) -> None:
    notifier = Recorder()
    daemon._notifier = notifier
    daemon.start()
    closed: list[str] = []
    daemon.wiring.services.close = lambda: closed.append("engine")  # type: ignore[method-assign]
    assert daemon.stop() is True
    assert notifier.sent[-1] == "STOPPING=1" and closed == ["engine"]


def test_a_missed_run_is_logged_and_counted(daemon: Daemon) -> None:
    missed = threading.Event()
    daemon.scheduler.add_listener(lambda e: missed.set(), EVENT_JOB_MISSED)
    past = datetime.now(UTC) - timedelta(hours=1)
    daemon.scheduler.add_job(daemon.run_check, DateTrigger(past), args=["unbilled_orders"],
                             id="check:unbilled_orders", misfire_grace_time=1)
    daemon.scheduler.start()
    assert missed.wait(10)
    assert sample(daemon, "billing_scheduler_jobs_missed_total",
                  job="check:unbilled_orders") == 1


def test_run_now_makes_every_check_due(daemon: Daemon) -> None:
    daemon._schedule(run_now=True)
    now = datetime.now(UTC)
    jobs = daemon.scheduler.get_jobs()
    assert len(jobs) == 2
    assert all(j.next_run_time <= now for j in jobs)
    daemon.scheduler.start(paused=True)
    daemon._schedule(run_now=False)  # a reload: back to the schedule, Thursday 05:30
    assert all(j.next_run_time.weekday() == 3 for j in daemon.scheduler.get_jobs())


def test_jobs_queued_when_a_stop_comes_do_not_run(daemon: Daemon) -> None:
    daemon.start()
    assert daemon.stop() is True
    assert daemon.run_check("unbilled_orders") is None


