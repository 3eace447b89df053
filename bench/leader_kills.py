"""Issue 11's long run: N real `billing-monitor run` processes on one
PostgreSQL state store (started here, as the suite does), the leader killed
with SIGKILL at a random point of its check and delivery cycle, again and
again: billing breaks, the leader pages, it is killed (and restarted, as
systemd would), billing recovers, whoever leads resolves. Measured: the
takeover time (kill -> another instance says it leads, /healthz polled every
50 ms), and the PagerDuty/Slack peers' counts: one incident per episode,
every resolve, no Slack message twice.

    .venv/bin/python -m bench.leader_kills --kills 200 --minutes 20 --instances 2

Prints one JSON object; stops at --kills or --minutes, whichever comes first.
Not a test: figures go to docs/benchmarks.md with the machine and the date."""

from __future__ import annotations

import argparse
import json
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.leader_cluster import LEASE, Cluster
from tests.peers.http_peers import make_tls
from tests.peers.http_services import PagerDutyPeer, SlackPeer
from tests.peers.postgres import postgres_server


def _takeover(c: Cluster, killed_at: float) -> float:
    """Seconds from the kill to the first moment another instance leads."""
    while True:
        if any(i.role() == "leader" for i in c.live()):
            return time.monotonic() - killed_at
        if time.monotonic() - killed_at > c.bound:
            raise AssertionError("no takeover within the bound")
        time.sleep(0.05)


def run(kills: int, minutes: float, instances: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tls = make_tls()
    pd, slack = PagerDutyPeer(tls), SlackPeer()
    takeovers: list[float] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bhm-lease-bench-") as tmp, \
            postgres_server() as server:
        c = Cluster(Path(tmp), server.fresh_database("lease_bench"), pd, slack, tls)
        try:
            for _ in range(instances):
                c.start()
            while len(takeovers) < kills and time.monotonic() - started < minutes * 60:
                c.knob(25)
                c.poke_until("an open incident", lambda: len(pd.open_alerts()) == 1)
                leader = c.leader()
                leader.proc.send_signal(signal.SIGUSR1)
                time.sleep(rng.uniform(0, 0.5))  # a random point of the cycle
                leader.proc.kill()
                killed_at = time.monotonic()
                leader.proc.wait()
                c.start()
                takeovers.append(_takeover(c, killed_at))
                c.knob(0)
                c.poke_until("the incident resolved", lambda: pd.open_alerts() == [])
        finally:
            c.close()
            pd.close()
            slack.close()
    elapsed = time.monotonic() - started
    episodes = len(takeovers)
    texts = [json.dumps(m, sort_keys=True) for m in slack.messages]
    actions = [e["event_action"] for e in pd.events]
    takeovers.sort()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python "
                   f"{platform.python_version()}".strip(),
        "instances": instances, "lease_seconds": LEASE, "seed": seed,
        "kills": episodes, "minutes": round(elapsed / 60, 2),
        "incidents_opened": len(pd.incidents),
        "incidents_still_open": len(pd.open_alerts()),
        "triggers_sent": actions.count("trigger"), "resolves_sent": actions.count("resolve"),
        "slack_messages": len(texts), "slack_duplicates": len(texts) - len(set(texts)),
        "takeover_p50_s": round(statistics.median(takeovers), 3) if takeovers else None,
        "takeover_max_s": round(takeovers[-1], 3) if takeovers else None,
        "takeover_bound_s": 2 * LEASE,
        "ok": (len(pd.incidents) == episodes and not pd.open_alerts()
               and actions.count("resolve") == episodes and len(texts) == len(set(texts))),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=200)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    a = p.parse_args(argv)
    result = run(a.kills, a.minutes, a.instances, a.seed)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
