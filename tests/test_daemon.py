"""The daemon's steps, called directly with an injected clock: a job, a
reload, the health probe, a stop. The scheduler is real but its jobs are not
left to fire on the wall clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.triggers.date import DateTrigger

from alerts.prometheus import MonitorMetrics
from checks.base import CheckOptions
from monitor.app import period_for
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.hooks import Hooks
from monitor.runner import PlannedCheck, Runner
from monitor.settings import Settings, load_settings
from monitor.types import Measurement, RunReport, Status
from monitor.wiring import Wiring, build_wiring
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
        build=lambda s, m: build_wiring(s, m, clock=clk), metrics=MonitorMetrics(),
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


def test_health_follows_scheduler_cycle_age_and_state_store(config: Path) -> None:
    # Documented allowance (example config, [daemon]): twice the shortest gap
    # between runs, plus the longest check timeout and the misfire grace.
    # Here: weekly checks, 45 s and 60 s, so 2 * 604800 + 45 + 60 seconds.
    text = config.read_text().replace("shutdown_timeout_seconds = 20",
                                      "shutdown_timeout_seconds = 20\nmisfire_grace_seconds = 60")
    config.write_text(text.replace('[checks.failed_charges]\n',
                                   '[checks.failed_charges]\ntimeout_seconds = 45\n'))
    allowance = 1_209_705
    clock = Clock(NOW)
    reachable: list[str | None] = [None]
    d = make_daemon(config, Hooks(state_store=lambda: reachable[0],
                                  state_store_configured=True), clock=clock)
    ok, body = d.health()
    assert not ok and body["reasons"] == ["scheduler is not running"]
    d.start()
    try:
        ok, body = d.health()
        assert ok, body
        assert body["state_store"] == "reachable"
        assert body["max_cycle_age_s"] == allowance
        clock.now = NOW + timedelta(seconds=allowance)  # at the limit: still healthy
        assert d.health()[0]
        clock.now = NOW + timedelta(seconds=allowance + 1)
        ok, body = d.health()
        assert not ok and body["reasons"] == [
            f"start (no run yet) was {allowance + 1}s ago, more than {allowance}s"]
        d.run_check("unbilled_orders")  # a run now resets the age
        assert d.health()[0]
        reachable[0] = "connection refused"
        ok, body = d.health()
        assert not ok and body["reasons"] == ["state store unreachable: connection refused"]
    finally:
        d.scheduler.shutdown(wait=False)


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


def test_a_bad_config_at_start_up_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[checks.x]\ntype = 'nope'\n", "utf-8")
    with pytest.raises(ConfigError):
        load_settings(path, {})


# The defaults as the README and the example config state them, written out here.
DOCUMENTED = {
    "daemon": {"timezone": "UTC", "misfire_grace_seconds": 300, "jitter_seconds": 0,
               "max_workers": 4, "shutdown_timeout_seconds": 30.0,
               "max_cycle_age_seconds": None},
    "http": {"enabled": True, "host": "127.0.0.1", "port": 9465},  # loopback, README
    "logging": {"format": "auto", "level": "INFO"},
}


def _sections(s: Settings) -> dict[str, dict[str, object]]:
    return {name: getattr(s, name).model_dump() for name in DOCUMENTED}


def test_settings_sections_have_the_documented_safe_defaults() -> None:
    assert _sections(Settings()) == DOCUMENTED


class Hang:
    """A check stuck in its database call until released."""

    def __init__(self, name: str, release: threading.Event) -> None:
        self.name = name
        self._release = release

    def collect(self, ctx: object) -> list[Measurement]:
        self._release.wait(30)
        return []


def test_a_hung_check_is_cut_off_and_blocks_neither_others_nor_its_next_run(
    config: Path,
) -> None:
    release = threading.Event()

    def build(s: Settings, m: MonitorMetrics) -> Wiring:
        wiring = build_wiring(s, m, clock=lambda: NOW)
        opts = CheckOptions(type="sql", timeout_seconds=0.1)
        checks = {**wiring.runner.checks, "hang": PlannedCheck(Hang("hang", release), opts)}
        wiring.runner = Runner(checks, wiring.sinks, period_for(s), clock=lambda: NOW)
        return wiring

    settings = load_settings(config, {})
    d = Daemon(settings, load=lambda: settings, build=build, metrics=MonitorMetrics(),
               hooks=Hooks(), notifier=Recorder(), clock=lambda: NOW)
    try:
        results = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(d.run_check, n) for n in ("hang", "unbilled_orders", "hang")]
            results = [f.result(timeout=30) for f in futures]
        statuses = [r.results[0].status if r else None for r in results]
        assert statuses == [Status.UNKNOWN, Status.CRIT, Status.UNKNOWN]
        assert "timed out" in (results[0].results[0].error or "")  # type: ignore[union-attr]
        assert sample(d, "billing_check_errors_total", check="hang") == 2
    finally:
        release.set()


def test_jobs_queued_when_a_stop_comes_do_not_run(daemon: Daemon) -> None:
    daemon.start()
    assert daemon.stop() is True
    assert daemon.run_check("unbilled_orders") is None


def test_the_example_config_documents_the_defaults() -> None:
    s = load_settings(Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml", {})
    assert _sections(s) == DOCUMENTED
