"""Done means: Teams, e-mail and the signed webhook pass the fault matrix
PagerDuty passes (tests/test_alerting_pagerduty.py): the receiver fails for
ten minutes in the middle of an incident (refused, timeout, 500, 429 or a
malformed answer) and still gets every message of the incident exactly once,
in order, through the real outbox and dispatcher: nothing lost, nothing
duplicated. A fresh process's objects every minute (injected clock)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from billing_monitor.alerting import outbox
from billing_monitor.alerting.dispatcher import Backoff, Dispatcher
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import outbox as table
from tests.alerting_support import Clock, make_engine, options, result
from tests.peers.http_peers import Fault, Tls
from tests.test_receiver_notifiers import Lane

FAULTS: list[Fault] = ["refused", "timeout", "error", "ratelimit", "malformed"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", ["teams", "email", "webhook"])
def test_ten_minutes_down_mid_incident_loses_and_repeats_nothing(
        kind: str, fault: Fault, tls: Tls, tmp_path: object) -> None:
    clock, rng = Clock(), random.Random(5)
    lane = Lane(kind, tls, clock=clock, timeout=0.3)
    if kind == "webhook" and fault == "malformed":  # a proxy's page: 200 and HTML
        lane.peer.malformed_reply = lambda: (200, {"Content-Type": "text/html"}, b"<html>")
    url = f"sqlite:///{tmp_path}/state.db"
    values = {0: 25, 5: 7, 8: 25, 20: 0}  # CRIT, WARN while down, CRIT, recovered
    value: float = 0
    try:
        for m in range(40):
            if m == 2:
                lane.peer.set_fault(fault)
            if m == 12:
                lane.peer.release()
                lane.peer.set_fault("ok")
            value = values.get(m, value)
            engine = open_state(url)
            opts = options()
            make_engine(engine, {"unbilled_orders": opts}, [kind]).emit(
                result("unbilled_orders", value, clock(), opts))
            Dispatcher(engine, {kind: lane.notifier}, backoff=Backoff(), clock=clock,
                       rand=rng.random).dispatch()
            if m == 40 - 1:
                assert outbox.stats(engine, clock()) == outbox.OutboxStats(0, 0.0, 0)
                with engine.connect() as conn:
                    rows, attempts = conn.execute(
                        select(func.count(), func.sum(table.c.attempts))).one()
                assert rows == 4 and attempts > rows  # the outage was real: attempts failed
            engine.dispose()
            clock.advance(minutes=1)
        expected = {
            "webhook": ["open critical", "deescalate warning", "escalate critical",
                        "resolve critical"],
        }.get(kind, ["ALERT [critical]", "DE-ESCALATED [warning]", "ESCALATED [critical]",
                     "RESOLVED"])
        assert lane.titles() == expected
    finally:
        lane.close()
