"""Several real `billing-monitor run` processes on one PostgreSQL state store
(issue 11): one leader at a time, the others standing by; the leader killed
(-9) at random points of its check and delivery cycle, paused (SIGSTOP) past
its lease, and the state store restarted under it. The local PagerDuty peer
counts: every incident opened once per episode and resolved, no Slack message
twice. Nothing waits for a schedule: SIGUSR1 makes every check due now (a
standby ignores it); each wait is for an event, with a generous bound."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import clock
from tests.daemon_helpers import free_port
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer, SlackPeer
from tests.peers.postgres import PostgresServer, _as_owner, _binary

pytestmark = pytest.mark.clock

BIN = Path(sys.executable).with_name("billing-monitor")
BOUND = 60.0  # seconds: a bound on waiting for an event, never an assertion on speed
LEASE = 2  # [state] lease_seconds
ROUTING_KEY = "R0utingKeyForTheLeaseTests00000x"


@dataclass
class Instance:
    proc: subprocess.Popen[bytes]
    port: int
    err: Path

    def health(self) -> dict[str, Any] | None:
        try:
            return dict(httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json())
        except (httpx.HTTPError, ValueError):
            return None

    def role(self) -> str | None:
        body = self.health()
        return None if body is None else str(body["leadership"]["role"])

    def alive(self) -> bool:
        return self.proc.poll() is None


class Cluster:
    def __init__(self, tmp_path: Path, state_url: str, pd: PagerDutyPeer, slack: SlackPeer,
                 tls: Tls) -> None:
        self.tmp = tmp_path
        self.billing = tmp_path / "billing.db"
        with sqlite3.connect(self.billing) as db:
            db.execute("CREATE TABLE knob (v INTEGER)")
            db.execute("INSERT INTO knob VALUES (0)")
        self.config = tmp_path / "bm.toml"
        self.config.write_text(f"""
[database]
url = "sqlite:///{self.billing}"
[statsd]
enabled = false
[state]
lease_seconds = {LEASE}
[outbox]
backoff_seconds = 0.2
backoff_max_seconds = 1
dispatch_seconds = 1
[pagerduty]
events_url = "{pd.url}"
client_timeout_seconds = 2
[slack]
timeout_seconds = 2
[checks.knob]
type = "sql"
query = "SELECT v FROM knob"
schedule = "0 0 1 1 *"
thresholds = {{ critical = 10 }}
""")
        ca = tmp_path / "ca.pem"
        ca.write_bytes(tls.ca_pem)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("BILLING_MONITOR_DATABASE_URL", "NOTIFY_SOCKET")}
        self.env.update({"PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "SSL_CERT_FILE": str(ca),
                         "SLACK_WEBHOOK_URL": slack.webhook_url,
                         "BILLING_MONITOR_STATE_URL": state_url, **clock.process_env()})
        self.instances: list[Instance] = []

    def start(self) -> Instance:
        port = free_port()
        n = len(self.instances)
        err = self.tmp / f"stderr.{n}"
        cfg = self.tmp / f"bm.{n}.toml"
        cfg.write_text(self.config.read_text() + f"\n[http]\nenabled = true\nport = {port}\n")
        with err.open("wb") as e:
            proc = subprocess.Popen([str(BIN), "--config", str(cfg), "run"], env=self.env,
                                    stdout=subprocess.DEVNULL, stderr=e,
                                    stdin=subprocess.DEVNULL)
        inst = Instance(proc, port, err)
        self.instances.append(inst)
        return inst

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive()]

    def leader(self) -> Instance:
        """The one live instance that says it leads (waits for one)."""
        found: list[Instance] = []

        def one() -> bool:
            found[:] = [i for i in self.live() if i.role() == "leader"]
            return len(found) == 1
        self.wait("one leader", one)
        return found[0]

    def knob(self, value: int) -> None:
        with sqlite3.connect(self.billing) as db:
            db.execute("UPDATE knob SET v = ?", (value,))

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        logs = "\n".join(i.err.read_text(errors="replace")[-3000:] for i in self.instances)
        raise AssertionError(f"timed out waiting for {what}; logs:\n{logs}")

    def poke_until(self, what: str, condition: Callable[[], bool]) -> None:
        """SIGUSR1 to every live instance (a standby ignores it) until `condition`."""
        def poked() -> bool:
            for i in self.live():
                if i.role() is not None:  # SIGUSR1 ends a process still starting
                    i.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                if condition():
                    return True
                time.sleep(0.1)
            return False
        self.wait(what, poked)

    def close(self) -> None:
        for i in self.instances:
            if i.alive():
                i.proc.send_signal(signal.SIGCONT)
                i.proc.kill()
            i.proc.wait()


@pytest.fixture
def cluster(tmp_path: Path, pg_server: PostgresServer, tls: Tls,
            pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer) -> Iterator[Cluster]:
    url = pg_server.fresh_database(f"lease_cluster_{random.randrange(10**9)}")
    c = Cluster(tmp_path, url, pagerduty_peer, slack_peer, tls)
    yield c
    c.close()


def _episode(c: Cluster, pd: PagerDutyPeer, disturb: Callable[[], None]) -> None:
    """Billing breaks, the leader pages; `disturb` strikes; billing recovers and
    whoever leads then resolves."""
    c.knob(25)
    c.poke_until("an open incident", lambda: len(pd.open_alerts()) == 1)
    disturb()
    c.knob(0)
    c.poke_until("the incident resolved", lambda: pd.open_alerts() == [])


def _assert_counts(pd: PagerDutyPeer, slack: SlackPeer, episodes: int) -> None:
    keys = {a.dedup_key for a in pd.incidents}
    assert len(pd.incidents) == episodes, [a.dedup_key for a in pd.incidents]
    for key in keys:  # one key per period: each opened once per episode in it
        assert all(a.status == "resolved" for a in pd.incidents_for(key))
    triggers = [e for e in pd.events if e["event_action"] == "trigger"]
    resolves = [e for e in pd.events if e["event_action"] == "resolve"]
    assert len(triggers) == episodes and len(resolves) == episodes, pd.events
    texts = [json.dumps(m, sort_keys=True) for m in slack.messages]
    assert len(texts) == len(set(texts)) == 2 * episodes, slack.messages


def test_two_started_at_once_kill_9_of_the_leader_repeated(
        cluster: Cluster, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer) -> None:
    rng = random.Random(11)
    cluster.start()
    cluster.start()  # the same instant, near enough: both race for the lease
    rounds = 3
    for _ in range(rounds):
        cluster.leader()
        cluster.wait("the other standing by", lambda: sum(
            1 for i in cluster.live() if i.role() == "standby") == 1)

        def kill_at_a_random_point() -> None:
            leader = cluster.leader()
            leader.proc.send_signal(signal.SIGUSR1)  # in the middle of a cycle, or not
            time.sleep(rng.uniform(0, 0.5))
            leader.proc.kill()
            leader.proc.wait()
            cluster.start()  # systemd would restart it
        _episode(cluster, pagerduty_peer, kill_at_a_random_point)
    _assert_counts(pagerduty_peer, slack_peer, rounds)


def test_a_leader_paused_past_its_lease_is_fenced_and_stands_by(
        cluster: Cluster, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer) -> None:
    for _ in range(3):
        cluster.start()
    paused: list[Instance] = []

    def pause() -> None:
        leader = cluster.leader()
        leader.proc.send_signal(signal.SIGSTOP)
        paused.append(leader)
        cluster.wait("a new leader", lambda: any(
            i.role() == "leader" for i in cluster.live() if i is not leader))
    _episode(cluster, pagerduty_peer, pause)
    paused[0].proc.send_signal(signal.SIGCONT)
    cluster.wait("the old leader standing by", lambda: paused[0].role() == "standby")
    _episode(cluster, pagerduty_peer, lambda: None)
    _assert_counts(pagerduty_peer, slack_peer, 2)


def test_the_store_restarted_mid_cycle(
        cluster: Cluster, pagerduty_peer: PagerDutyPeer, slack_peer: SlackPeer,
        pg_server: PostgresServer) -> None:
    cluster.start()
    cluster.start()

    def restart_the_store() -> None:
        cluster.leader().proc.send_signal(signal.SIGUSR1)
        subprocess.run(_as_owner([_binary("pg_ctl"), "-D", str(pg_server.datadir), "-m", "fast",
                                  "-l", str(pg_server.datadir.parent / "server.log"),
                                  "-w", "-t", "60", "restart"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=90)
    _episode(cluster, pagerduty_peer, restart_the_store)
    assert all(i.alive() for i in cluster.instances)  # reconnected, not restarted
    _assert_counts(pagerduty_peer, slack_peer, 1)
