"""Several real `billing-monitor run` processes on one PostgreSQL state store,
with a billing database whose value the caller sets (table `knob`): for the
leader tests (tests/test_leader_processes.py) and the long run under bench/
(bench/leader_kills.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests import clock
from tests.daemon_helpers import free_port
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer, SlackPeer

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
                 tls: Tls, bound: float = BOUND) -> None:
        self.bound = bound
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
        deadline = time.monotonic() + self.bound
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
