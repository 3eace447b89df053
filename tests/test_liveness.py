"""Liveness pings against a Healthchecks.io-compatible peer: the right paths and
run ids, short timeouts, never an exception, never the ping URL in a log line."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from billing_monitor.alerts.contract import NullLiveness
from billing_monitor.alerts.liveness import (
    BackgroundLiveness,
    Heartbeat,
    HttpLiveness,
    NullHeartbeat,
)
from tests.peers.http_peers import Fault
from tests.peers.http_services import HealthchecksPeer, Ping

TIMEOUT = 10.0  # a healthy local ping never nears it, even on a loaded machine


def test_a_run_pings_start_then_success_with_its_rid(healthchecks_peer: HealthchecksPeer) -> None:
    live = HttpLiveness(healthchecks_peer.ping_url, timeout=TIMEOUT)
    rid = str(uuid.uuid4())
    live.start(rid)
    live.success(rid, "3 checks OK")
    other = str(uuid.uuid4())
    live.start(other)
    live.fail(other, "unbilled_orders CRIT")
    assert healthchecks_peer.pings == [
        Ping("start", rid, "", "POST"), Ping("success", rid, "3 checks OK", "POST"),
        Ping("start", other, "", "POST"), Ping("fail", other, "unbilled_orders CRIT", "POST"),
    ]


def test_ping_keeps_the_urls_own_query(healthchecks_peer: HealthchecksPeer) -> None:
    live = HttpLiveness(healthchecks_peer.ping_url + "?create=1", timeout=TIMEOUT)
    rid = str(uuid.uuid4())
    assert live.ping("start", rid)
    (req,) = healthchecks_peer.requests
    assert req.path == f"/{healthchecks_peer.check_uuid}/start"
    assert req.param("create") == "1" and req.param("rid") == rid


@pytest.mark.parametrize("fault", ["refused", "timeout", "error", "ratelimit"])
def test_a_failed_ping_never_raises_and_hides_the_url(
        healthchecks_peer: HealthchecksPeer, fault: Fault,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    healthchecks_peer.hang_seconds = 30.0  # "timeout": never answers until the peer is closed
    live = HttpLiveness(healthchecks_peer.ping_url, timeout=0.5 if fault == "timeout" else TIMEOUT)
    healthchecks_peer.set_fault(fault)
    rid = str(uuid.uuid4())
    live.start(rid)
    live.success(rid)
    live.fail(rid, "boom")
    assert live.ping("success", rid) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4 and warnings[0].startswith("liveness start ping")
    for record in caplog.records:
        assert healthchecks_peer.check_uuid not in record.getMessage()


def test_unknown_check_is_logged_not_raised(healthchecks_peer: HealthchecksPeer,
                                            caplog: pytest.LogCaptureFixture) -> None:
    live = HttpLiveness(f"{healthchecks_peer.url}/{uuid.uuid4()}", timeout=TIMEOUT)
    assert live.ping("success", str(uuid.uuid4())) is False
    assert "HTTP 404: not found" in caplog.text
    assert healthchecks_peer.pings == []


def test_heartbeat_pings_without_rid(healthchecks_peer: HealthchecksPeer) -> None:
    beat = Heartbeat(healthchecks_peer.ping_url, timeout=TIMEOUT)
    assert beat.heartbeat() is True
    assert healthchecks_peer.pings == [Ping("success", None, "", "POST")]
    healthchecks_peer.set_fault("refused")
    assert beat.heartbeat() is False


def test_null_objects_do_nothing_and_say_so(healthchecks_peer: HealthchecksPeer) -> None:
    none = NullLiveness()
    assert (none.start("x"), none.success("x", "body"), none.fail("x", "body")) == (
        None, None, None)
    assert NullHeartbeat().heartbeat() is False  # "not sent", so no one counts it as a beat
    assert healthchecks_peer.requests == []


def test_background_pings_return_at_once_and_keep_their_order(
        healthchecks_peer: HealthchecksPeer, caplog: pytest.LogCaptureFixture) -> None:
    healthchecks_peer.hang_seconds = 30.0  # held until the peer is told to go on
    healthchecks_peer.queue("timeout")
    live = BackgroundLiveness(HttpLiveness(healthchecks_peer.ping_url, timeout=5.0),
                              max_pending=2)
    rid = str(uuid.uuid4())
    live.start(rid)  # the worker is stuck on this one, the caller is not
    for _ in range(1000):  # until the worker's request is held by the peer (<= 10 s)
        if healthchecks_peer.requests:
            break
        threading.Event().wait(0.01)
    assert healthchecks_peer.requests
    live.success(rid, "ok")
    live.fail(rid, "boom")
    live.success(rid, "dropped: the queue holds 2")
    assert "liveness success ping dropped: 2 pings pending" in caplog.text
    assert healthchecks_peer.pings == []  # nothing answered yet, and we are not blocked
    healthchecks_peer.release()
    live.close()
    assert [(p.kind, p.body) for p in healthchecks_peer.pings] == [("success", "ok"),
                                                                    ("fail", "boom")]
