"""Done means: with PagerDuty failing for ten minutes in the middle of an
incident, the on-call engineer still gets exactly one incident, and it
resolves when billing recovers. The real PagerDutyNotifier against the local
Events API v2 peer; a fresh process's objects every minute (injected clock)."""

from __future__ import annotations

import random

import pytest

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Backoff, Dispatcher
from billing_monitor.alerting.store import open_state
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from tests.alerting_support import Clock, make_engine, options, result, state_url
from tests.peers.http_peers import Fault, Tls
from tests.peers.http_services import PagerDutyPeer

__all__ = ["state_url"]  # fixture

ROUTING_KEY = "S3cr3tR0utingKey0123456789abcdef"
KEY = "billing/unbilled_orders/2026-W47"


def minute(url: str, value: float, clock: Clock, peer: PagerDutyPeer, tls: Tls,
           rng: random.Random) -> None:
    """One scheduled run in a new process: check result in, outbox out."""
    engine = open_state(url)
    opts = options()
    make_engine(engine, {"unbilled_orders": opts}, ["pagerduty"]).emit(
        result("unbilled_orders", value, clock(), opts))
    pd = PagerDutyNotifier(ROUTING_KEY, events_url=peer.url, timeout=10.0, max_attempts=1,
                           verify=tls.client)
    Dispatcher(engine, {"pagerduty": pd}, backoff=Backoff(), clock=clock,
               rand=rng.random).dispatch()
    pd.close()
    engine.dispose()


@pytest.mark.parametrize("recovers_at", [10, 20], ids=["during-outage", "after-outage"])
def test_pagerduty_down_ten_minutes_mid_incident_gives_one_incident_that_resolves(
    state_url: str, pagerduty_peer: PagerDutyPeer, tls: Tls, recovers_at: int,
) -> None:
    clock, rng = Clock(), random.Random(3)
    # minute -> billing's value and PagerDuty's state at that minute
    faults: dict[int, Fault] = {2: "error", 7: "refused", 12: "ok"}
    values = {0: 25, 5: 7, 8: 25, recovers_at: 0}  # CRIT, WARN while down, CRIT, recovered
    value: float = 0
    for m in range(45):
        if m in faults:
            pagerduty_peer.set_fault(faults[m])
        value = values.get(m, value)
        minute(state_url, value, clock, pagerduty_peer, tls, rng)
        clock.advance(minutes=1)

    (incident,) = pagerduty_peer.incidents_for(KEY)
    assert incident.status == "resolved"
    assert pagerduty_peer.open_alerts() == []
    sent = [(e["event_action"], e.get("payload", {}).get("severity"))
            for e in pagerduty_peer.events]
    assert sent == [("trigger", "critical"), ("trigger", "warning"), ("trigger", "critical"),
                    ("resolve", None)]
    failed = [r for r in pagerduty_peer.requests if r.path == "/v2/enqueue"]
    assert len(failed) > len(sent)  # the outage was real: attempts were refused with 500s
    engine = open_state(state_url)
    assert outbox.stats(engine, clock()) == outbox.OutboxStats(0, 0.0, 0)
    engine.dispose()
