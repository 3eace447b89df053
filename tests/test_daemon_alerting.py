"""The daemon with alerting wired in: the alert engine is a sink of every run,
the outbox is delivered by the delivery loop, liveness pings wrap each run, the
heartbeat and the state-store probe work; all against real local peers."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from billing_monitor.alerts.prometheus import MonitorMetrics
from billing_monitor.assembly import build_hooks, build_wiring
from billing_monitor.checks.contract import Status
from billing_monitor.daemon.delivery_loop import DeliveryLoop
from billing_monitor.daemon.hooks import Hooks
from billing_monitor.daemon.loop import Daemon
from billing_monitor.settings.load import load_settings
from tests.daemon_helpers import NOW, make_demo_db, write_config
from tests.peers.http_peers import Received, Reply
from tests.peers.http_services import HealthchecksPeer, SlackPeer
from tests.peers.statsd import UdpListener


class Recorder:
    def notify(self, state: str) -> bool:
        return True


def _daemon(config: Path) -> tuple[Daemon, Hooks]:
    settings = load_settings(config, {})
    metrics = MonitorMetrics()
    holder: list[Daemon] = []
    hooks = build_hooks(settings, metrics, lambda: holder[0].wiring, os.environ)
    daemon = Daemon(settings, load=lambda: load_settings(config, {}),
                    build=lambda s, m: build_wiring(s, m, os.environ, clock=lambda: NOW,
                                                    on_queued=hooks.wake), metrics=metrics,
                    hooks=hooks, notifier=Recorder(), clock=lambda: NOW)
    holder.append(daemon)
    return daemon, hooks


def _job(hooks: Hooks, name: str) -> None:
    if name == "outbox":  # one pass of the delivery loop, in this thread
        [loop] = [w for w in hooks.workers if isinstance(w, DeliveryLoop)]
        loop.run_once()
        return
    [job] = [j for j in hooks.periodic if j.name == name]
    job.func()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_peer: SlackPeer,
        healthchecks_peer: HealthchecksPeer) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_peer.webhook_url)
    monkeypatch.setenv("BILLING_MONITOR_PING_URL", healthchecks_peer.ping_url)
    monkeypatch.setenv("BILLING_MONITOR_HEARTBEAT_URL", healthchecks_peer.ping_url)


@pytest.mark.usefixtures("env")
def test_a_failing_check_posts_once_through_the_outbox_job(
    tmp_path: Path, statsd: UdpListener, slack_peer: SlackPeer,
    healthchecks_peer: HealthchecksPeer,
) -> None:
    config = write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path),
                          statsd_port=statsd.port)
    daemon, hooks = _daemon(config)
    try:
        for _ in range(3):  # three scheduled runs of a check that stays critical
            report = daemon.run_check("unbilled_orders")
            assert report is not None and report.results[0].status is Status.CRIT
            _job(hooks, "outbox")
        assert len(slack_peer.messages) == 1
        posted = json.dumps(slack_peer.messages[0])
        assert "unbilled_orders" in posted and "billing/unbilled_orders/2026-W47" in posted
        assert daemon.metrics.registry.get_sample_value("billing_outbox_depth") == 0
        lines = statsd.drain()
        assert any(line.startswith("billing.outbox.depth:0|g|#env:test") for line in lines)
        _, body = daemon.health()
        assert body["state_store"] == "reachable"
        _job(hooks, "heartbeat")
    finally:
        for stop in hooks.on_stop:
            stop()
        daemon.wiring.close()
    kinds = [(p.kind, p.rid) for p in healthchecks_peer.pings]
    run_pings = [k for k in kinds if k[1] is not None]
    assert [k for k, _ in run_pings] == ["start", "success"] * 3
    assert run_pings[0][1] == run_pings[1][1] != run_pings[2][1]
    assert ("success", None) in kinds  # the daemon's own heartbeat, no rid


@pytest.mark.usefixtures("env")
def test_an_unreachable_state_store_keeps_checks_running_and_fails_healthz(
    tmp_path: Path, statsd: UdpListener,
) -> None:
    config = write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path),
                          statsd_port=statsd.port)
    with config.open("a") as f:
        f.write(f'\n[state]\nurl = "sqlite:///{tmp_path}/no/such/dir/state.db"\n')
    daemon, hooks = _daemon(config)
    try:
        report = daemon.run_check("unbilled_orders")
        assert report is not None and report.results[0].status is Status.CRIT
        assert any(line.startswith("billing.unbilled_orders:14|g") for line in statsd.drain())
        _job(hooks, "outbox")  # nothing to deliver from, and nothing raised
        ok, body = daemon.health()
        assert not ok and body["state_store"] == "unreachable"
        assert any(r.startswith("state store unreachable: OperationalError: unable to open")
                   for r in body["reasons"]), body["reasons"]
    finally:
        for stop in hooks.on_stop:
            stop()
        daemon.wiring.close()


@pytest.mark.usefixtures("env")
def test_the_daemon_pages_when_the_check_ends_not_at_the_next_timer_tick(
    tmp_path: Path, slack_peer: SlackPeer,
) -> None:
    """The alert engine wakes the delivery loop: with the timer at an hour, the
    post still leaves at once (issue 8: it waited for dispatch_seconds)."""
    config = write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path))
    with config.open("a") as f:
        f.write("\n[outbox]\ndispatch_seconds = 3600\n")
    daemon, _ = _daemon(config)
    daemon.start()
    try:
        time.sleep(0.2)  # let the loop's first pass (an empty outbox) go by
        report = daemon.run_check("unbilled_orders")
        assert report is not None and report.results[0].status is Status.CRIT
        deadline = time.monotonic() + 10  # a bound on waiting, far below the hour
        while not slack_peer.messages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(slack_peer.messages) == 1
    finally:
        daemon.stop(timeout=5)


@pytest.mark.usefixtures("env")
def test_a_reload_that_removes_a_failing_check_resolves_its_incident(
    tmp_path: Path, statsd: UdpListener, slack_peer: SlackPeer,
) -> None:
    """SIGHUP (Daemon.reload) with a config that no longer has the check: its
    open incident gets its resolve, once, through the outbox."""
    config = write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path),
                          statsd_port=statsd.port)
    daemon, hooks = _daemon(config)
    try:
        report = daemon.run_check("unbilled_orders")
        assert report is not None and report.results[0].status is Status.CRIT
        _job(hooks, "outbox")
        assert len(slack_peer.messages) == 1
        text = config.read_text()
        config.write_text(text.replace('[checks.unbilled_orders]\nschedule = "30 5 * * 4"\n'
                                       '[checks.unbilled_orders.thresholds]\ncritical = 10\n',
                                       ""))
        assert daemon.reload() is True
        assert sorted(daemon.settings.checks) == ["failed_charges"]
        _job(hooks, "outbox")
        assert daemon.reload() is True  # a second reload sends nothing more
        _job(hooks, "outbox")
    finally:
        for stop in hooks.on_stop:
            stop()
        daemon.wiring.close()
    assert [m["text"].splitlines()[:2] for m in slack_peer.messages] == [
        ["🔴 ALERT [critical]: unbilled_orders",
         "CRITICAL: billing unbilled_orders (2026-W47): unbilled_orders=14 (CRIT > 10)"],
        ["✅ RESOLVED: unbilled_orders",
         "RESOLVED: billing unbilled_orders: the check was removed from the configuration"],
    ]


@pytest.mark.usefixtures("env")
def test_a_reload_during_a_delivery_pass_leaves_the_pass_its_notifiers(
    tmp_path: Path, statsd: UdpListener, slack_peer: SlackPeer,
) -> None:
    """A SIGHUP while a delivery pass is posting retires the wiring that pass
    uses: it is closed when the pass is done, not under it. (It was closed at
    once: the pass's next post failed with "client has been closed" and waited
    for its retry, 25 s later in the process test.)"""
    config = write_config(tmp_path / "monitor.toml", make_demo_db(tmp_path),
                          statsd_port=statsd.port)
    daemon, hooks = _daemon(config)
    arrived, go = threading.Event(), threading.Event()
    handle = slack_peer.handle

    def held_once(req: Received) -> Reply:
        if not arrived.is_set():
            arrived.set()
            go.wait(30)
        return handle(req)

    slack_peer.handle = held_once  # type: ignore[method-assign]
    [loop] = [w for w in hooks.workers if isinstance(w, DeliveryLoop)]
    try:
        for name in ("unbilled_orders", "failed_charges"):
            report = daemon.run_check(name)
            assert report is not None and report.results[0].status is not Status.OK
        delivery = threading.Thread(target=loop.run_once)
        delivery.start()
        assert arrived.wait(30), "the first post never reached the Slack peer"
        retired = daemon.wiring
        assert daemon.reload() is True and daemon.wiring is not retired
        go.set()
        delivery.join(60)
        assert not delivery.is_alive()
        assert len(slack_peer.messages) == 2  # both, in the one pass
        loop.run_once()
        assert len(slack_peer.messages) == 2  # and nothing left to retry
    finally:
        go.set()
        for stop in hooks.on_stop:
            stop()
        daemon.wiring.close()
