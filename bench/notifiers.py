"""How long one delivery takes against the local peers, healthy and failing.

    .venv/bin/python -m bench.notifiers [N]

Healthy: N deliveries per notifier (PagerDuty over TLS), mean and p95 in ms.
Failing: how long `deliver` blocks the dispatcher before it raises, with the
default [pagerduty] max_attempts = 2 and short test timeouts, per fault."""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from billing_monitor.alerts.contract import Notification, Notifier, SinkError
from billing_monitor.alerts.google_chat import GoogleChatNotifier
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from billing_monitor.alerts.slack import SlackNotifier
from tests.peers.http_peers import Fault, HttpPeer, make_tls
from tests.peers.http_services import GoogleChatPeer, PagerDutyPeer, SlackPeer

KEY = "S3cr3tR0utingKey0123456789abcdef"


def note(i: int) -> Notification:
    return Notification(action="trigger", reason="open", dedup_key=f"billing/bench/{i % 10}",
                        check="bench", severity="critical", summary="bench " * 20,
                        source="bench", occurred_at=datetime.now(UTC),
                        custom_details={"measurements": [{"name": "x", "value": i}]})


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(SinkError):
        fn()
    return (time.perf_counter() - start) * 1000


def main(n: int) -> None:
    tls = make_tls()
    pd_peer, slack_peer, gc_peer = PagerDutyPeer(tls), SlackPeer(), GoogleChatPeer()
    cases: list[tuple[str, HttpPeer, Notifier]] = [
        ("pagerduty (https)", pd_peer, PagerDutyNotifier(
            KEY, events_url=pd_peer.url, verify=tls.client, timeout=0.5)),
        ("slack", slack_peer, SlackNotifier(slack_peer.webhook_url, timeout=0.5)),
        ("google_chat", gc_peer, GoogleChatNotifier(gc_peer.webhook_url, timeout=0.5)),
    ]
    print(f"healthy peers, {n} deliveries each:")
    for name, _, notifier in cases:
        ms = sorted(timed(partial(notifier.deliver, note(i))) for i in range(n))
        print(f"  {name:18} mean {statistics.mean(ms):6.2f} ms   p95 {ms[int(n * .95)]:6.2f} ms")
    print("failing peers: time until deliver() raises (timeout 0.5 s, PagerDuty max_attempts 2):")
    faults: tuple[Fault, ...] = ("refused", "timeout", "error", "ratelimit", "malformed")
    for name, peer, notifier in cases:
        peer.hang_seconds = 2.0
        cells = []
        for fault in faults:
            peer.set_fault(fault)
            cells.append(f"{fault} {timed(partial(notifier.deliver, note(0))):6.0f} ms")
            peer.set_fault("ok")
        print(f"  {name:18} " + "  ".join(cells))
    for _, peer, _ in cases:
        peer.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
