"""PagerDutyNotifier against a local Events API v2 peer (HTTPS, as the client
library insists), in every fault mode."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from billing_monitor.alerts.contract import Notification, SinkError
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from tests.peers.http_peers import Fault, Tls
from tests.peers.http_services import PagerDutyPeer

ROUTING_KEY = "S3cr3tR0utingKey0123456789abcdef"
KEY = "billing/unbilled_orders/2026-W47"


def note(action: str = "trigger", **kw: Any) -> Notification:
    base: dict[str, Any] = dict(
        action=action, reason="open" if action == "trigger" else action, dedup_key=KEY,
        check="unbilled_orders", severity="critical",
        summary="12 unbilled orders this week (critical above 10)", source="billing-monitor",
        occurred_at=datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
        custom_details={"status": "CRIT", "measurements": [
            {"name": "unbilled_orders", "value": 12.0, "threshold": "> 10",
             "samples": ["ord_1", "ord_2"]}]},
        links=(("https://runbooks.example/unbilled", "Runbook"),),
    )
    return Notification(**{**base, **kw})


def notifier(peer: PagerDutyPeer, tls: Tls, key: str = ROUTING_KEY,
             **kw: Any) -> PagerDutyNotifier:
    opts: dict[str, Any] = dict(events_url=peer.url, component="billing-db", group="payments",
                                dashboard_url="https://dash.example/billing", timeout=10.0,
                                max_attempts=1, backoff_seconds=0.01, verify=tls.client)
    return PagerDutyNotifier(key, **{**opts, **kw})


def test_trigger_sends_a_complete_event(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    notifier(pagerduty_peer, tls).deliver(note(summary="x" * 2000))
    (event,) = pagerduty_peer.events
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger" and event["dedup_key"] == KEY
    p = event["payload"]
    assert len(p["summary"]) == 1024 and p["summary"].endswith("…")
    assert (p["severity"], p["source"], p["component"], p["group"], p["class"]) == (
        "critical", "billing-monitor", "billing-db", "payments", "unbilled_orders")
    assert p["timestamp"] == "2026-11-22T03:00:00+00:00"
    assert p["custom_details"]["measurements"][0]["samples"] == ["ord_1", "ord_2"]
    assert event["links"] == [{"href": "https://runbooks.example/unbilled", "text": "Runbook"},
                              {"href": "https://dash.example/billing", "text": "Dashboard"}]


def test_section_settings_win_over_the_notifications_values(
        pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    n = note(component="unbilled_orders", group="billing", links=())
    notifier(pagerduty_peer, tls, component=None, source="prod-1").deliver(n)
    p = pagerduty_peer.events[0]["payload"]
    assert (p["source"], p["component"], p["group"]) == ("prod-1", "unbilled_orders", "payments")
    assert pagerduty_peer.events[0]["links"] == [{"href": "https://dash.example/billing",
                                                  "text": "Dashboard"}]


def test_same_key_updates_the_alert_and_resolve_closes_it(
        pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pd = notifier(pagerduty_peer, tls)
    pd.deliver(note(severity="warning"))
    pd.deliver(note(reason="escalate", severity="critical"))
    pd.deliver(note(reason="renotify"))
    assert len(pagerduty_peer.incidents_for(KEY)) == 1
    assert pagerduty_peer.alerts[KEY].severity == "critical"
    pd.deliver(note("acknowledge"))
    assert pagerduty_peer.alerts[KEY].status == "acknowledged"
    pd.deliver(note("resolve"))
    assert pagerduty_peer.alerts[KEY].status == "resolved"
    assert pagerduty_peer.events[-1] == {"event_action": "resolve", "dedup_key": KEY,
                                         "routing_key": ROUTING_KEY}
    assert pagerduty_peer.open_alerts() == []


def _secret_free(exc: SinkError, caplog: pytest.LogCaptureFixture, secret: str) -> None:
    assert secret not in str(exc) and secret not in repr(exc.args)
    assert exc.__cause__ is None and exc.__suppress_context__
    for record in caplog.records:
        assert secret not in record.getMessage()


@pytest.mark.parametrize(("fault", "retry_after"), [
    ("refused", None), ("timeout", None), ("error", None), ("ratelimit", 7.0),
    ("malformed", None),
])
def test_faults_are_transient(pagerduty_peer: PagerDutyPeer, tls: Tls, fault: Fault,
                              retry_after: float | None,
                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pagerduty_peer.hang_seconds = 30.0  # "timeout": never answers until the peer is closed
    pagerduty_peer.set_fault(fault)
    with pytest.raises(SinkError) as info:  # a short timeout only where one must fire
        notifier(pagerduty_peer, tls, timeout=0.5 if fault == "timeout" else 10.0).deliver(note())
    assert info.value.permanent is False
    assert info.value.retry_after == retry_after
    assert str(info.value).startswith("PagerDuty: ")
    if fault in ("refused", "timeout"):
        cause = "ConnectError" if fault == "refused" else "ReadTimeout"
        assert str(info.value) == f"PagerDuty: events API unreachable ({cause}, 1 attempt(s))"
    _secret_free(info.value, caplog, ROUTING_KEY)
    assert pagerduty_peer.incidents == []


def test_invalid_event_is_permanent_and_names_the_problem(
        pagerduty_peer: PagerDutyPeer, tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    short_key = ROUTING_KEY[:31]
    with pytest.raises(SinkError) as info:
        notifier(pagerduty_peer, tls, key=short_key).deliver(note())
    assert info.value.permanent is True
    assert "HTTP 400" in str(info.value) and "routing_key" in str(info.value)
    _secret_free(info.value, caplog, short_key)


def test_retries_are_bounded_by_max_attempts(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pagerduty_peer.set_fault("ratelimit")  # the library's default would retry forever
    with pytest.raises(SinkError) as info:
        notifier(pagerduty_peer, tls, max_attempts=3).deliver(note())
    assert info.value.retry_after == 7.0
    assert len(pagerduty_peer.requests) == 3


def test_one_500_is_retried_within_the_delivery(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pagerduty_peer.queue("error")
    notifier(pagerduty_peer, tls, max_attempts=2).deliver(note())
    assert len(pagerduty_peer.requests) == 2
    assert len(pagerduty_peer.incidents_for(KEY)) == 1


def test_refused_then_back_delivers_once(pagerduty_peer: PagerDutyPeer, tls: Tls) -> None:
    pd = notifier(pagerduty_peer, tls)
    pagerduty_peer.set_fault("refused")
    for _ in range(3):
        with pytest.raises(SinkError):
            pd.deliver(note())
    pagerduty_peer.set_fault("ok")
    pd.deliver(note())
    pd.deliver(note())  # an at-least-once redelivery
    assert len(pagerduty_peer.incidents_for(KEY)) == 1
