"""`billing-monitor run` as a real subprocess, as systemd would run it: a
notify socket, signals, the HTTP endpoint, a database that disappears, and
fake secrets in the environment that must never show in any output.

Nothing here waits for a schedule: `--run-now` and SIGUSR1 make checks due
at once, and each wait is for an event with a generous bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import clock
from tests.daemon_helpers import free_port, write_config
from tests.helpers import live_demo_db
from tests.peers.statsd import UdpListener
from tests.test_logs import SECRETS

pytestmark = pytest.mark.clock

BIN = Path(sys.executable).with_name("billing-monitor")
BOUND = 30.0  # seconds; a bound on waiting for an event, never an assertion on speed
# A check whose failure message contains a secret: the redactor must catch it.
LEAKY_CHECK = f"""
[checks.leaky]
type = "sql"
query = "SELECT {SECRETS['STRIPE_API_KEY']}"
"""


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    notify: socket.socket
    url: str
    out: Path
    err: Path

    def messages(self, until: str) -> list[str]:
        """Notify messages received until one starting with `until`."""
        got: list[str] = []
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            try:
                got.append(self.notify.recv(4096).decode())
            except TimeoutError:
                continue
            if got[-1].startswith(until):
                return got
        raise AssertionError(f"no {until} from the daemon; got {got}; stderr: {self.stderr()}")

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        return _samples(httpx.get(f"{self.url}/metrics").text)

    def stderr(self) -> str:
        return self.err.read_text("utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def wait_for(what: str, condition: Callable[[], bool], proc: Proc) -> None:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, f"daemon exited: {proc.stderr()}"
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; stderr: {proc.stderr()}")


def value(p: Proc, name: str, **labels: str) -> float | None:
    for got, v in p.metrics().get(name, []):
        if all(got.get(k) == want for k, want in labels.items()):
            return v
    return None


def start(tmp_path: Path, config: Path, *args: str, port: int = 0,
          extra_env: dict[str, str] | None = None) -> Proc:
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(0.5)
    env = {k: v for k, v in os.environ.items()
           if k not in ("JOURNAL_STREAM", "CREDENTIALS_DIRECTORY")}
    env.update(SECRETS)
    env.pop("BILLING_MONITOR_DATABASE_URL")  # the demo database comes from the config
    env.pop("BILLING_MONITOR_STATE_URL")  # the state store beside the config, in tmp_path
    env["NOTIFY_SOCKET"] = str(sock_path)
    env.update(clock.process_env())
    env.update(extra_env or {})
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([str(BIN), "--config", str(config), *args], env=env,
                                stdout=o, stderr=e, stdin=subprocess.DEVNULL)
    return Proc(proc, notify, f"http://127.0.0.1:{port}", out, err)


@pytest.fixture
def daemon(tmp_path: Path, statsd: UdpListener) -> Iterator[tuple[Proc, Path, Path]]:
    # Built from the clock the daemon reads, in a zone with DST.
    db, port = live_demo_db(tmp_path, clock.ZONE, "billing-demo.db"), free_port()
    config = write_config(tmp_path / "monitor.toml", db, statsd_port=statsd.port,
                          http_port=port, extra_checks=LEAKY_CHECK, zone=clock.ZONE)
    p = start(tmp_path, config, "run", "--run-now", "--log-format", "json", port=port)
    yield p, config, db
    if p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()
    p.notify.close()


def test_the_daemon_lifecycle_end_to_end(
    daemon: tuple[Proc, Path, Path], statsd: UdpListener
) -> None:
    p, config, db = daemon
    assert any(m.startswith("READY=1") for m in p.messages(until="READY=1"))
    wait_for("the first run of every check", lambda: all(
        value(p, "billing_check_runs_total", check=c) for c in
        ("unbilled_orders", "failed_charges", "leaky")), p)
    health = httpx.get(f"{p.url}/healthz")
    assert health.status_code == 200, health.text
    assert value(p, "billing_unbilled_orders", check="unbilled_orders") == 14
    assert value(p, "billing_check_status", check="leaky") == 3  # no such column: UNKNOWN

    # SIGHUP with a broken config: rejected, named, still running the old one.
    good = config.read_text()
    config.write_text(good + "\n[checks.failed_charges.surprise]\n", "utf-8")
    p.signal(signal.SIGHUP)
    assert [m.split("\n")[0] for m in p.messages(until="READY=1")] == ["RELOADING=1", "READY=1"]
    wait_for("the rejection log line", lambda: "reload rejected" in p.stderr(), p)
    assert "checks.failed_charges.surprise: unknown key" in p.stderr()
    assert httpx.get(f"{p.url}/healthz").status_code == 200

    # SIGHUP with a valid, changed config: a new check is scheduled.
    config.write_text(good + '\n[checks.refunds]\ntype = "sql"\nquery = "SELECT 0"\n', "utf-8")
    p.signal(signal.SIGHUP)
    p.messages(until="READY=1")
    wait_for("the reload", lambda: value(p, "billing_config_reloads_total",
                                         result="applied") == 1, p)
    assert value(p, "billing_scheduler_jobs") == 4

    # The billing database disappears: its checks become UNKNOWN, the daemon runs on.
    db.unlink()
    errors_before = value(p, "billing_check_errors_total", check="unbilled_orders") or 0
    p.signal(signal.SIGUSR1)
    wait_for("the checks to fail", lambda: (value(
        p, "billing_check_errors_total", check="unbilled_orders") or 0) > errors_before, p)
    assert value(p, "billing_check_status", check="unbilled_orders") == 3
    assert httpx.get(f"{p.url}/healthz").status_code == 200
    bodies = httpx.get(f"{p.url}/metrics").text + httpx.get(f"{p.url}/healthz").text

    # SIGTERM: STOPPING=1, then exit 0.
    p.signal(signal.SIGTERM)
    assert p.messages(until="STOPPING=1")[-1] == "STOPPING=1"
    assert p.proc.wait(timeout=BOUND) == 0
    err, out = p.stderr(), p.out.read_text()
    assert '"event": "stopped"' in err
    assert '"check": "unbilled_orders", "status": "CRIT"' in err  # one line per run

    # Nothing anywhere shows a secret, though the leaky check's error held one.
    datagrams = "\n".join(statsd.drain())
    assert "REDACTED" in err and "leaky could not run" in datagrams and "REDACTED" in datagrams
    for name, secret in SECRETS.items():
        for where, text in (("stderr", err), ("stdout", out), ("http", bodies),
                            ("DogStatsD", datagrams)):
            assert secret not in text, f"{name} leaked to {where}"


def test_watchdog_pings_and_sigint_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "monitor.toml", live_demo_db(tmp_path, clock.ZONE),
                          http_port=port, zone=clock.ZONE)
    # WatchdogSec=0.2s: pings every 0.1 s while the scheduler runs.
    p = start(tmp_path, config, "run", port=port, extra_env={"WATCHDOG_USEC": "200000"})
    try:
        p.messages(until="READY=1")
        p.messages(until="WATCHDOG=1")
        p.messages(until="WATCHDOG=1")
        p.signal(signal.SIGINT)
        p.messages(until="STOPPING=1")
        assert p.proc.wait(timeout=BOUND) == 0
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        p.notify.close()


def test_a_bad_config_fails_fast_with_78(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[http]\nport = 'eighty'\n[checks.unbilled_orders]\n", "utf-8")
    p = start(tmp_path, config, "run")
    try:
        assert p.proc.wait(timeout=BOUND) == 78
        assert "http.port" in p.stderr()
        with pytest.raises(TimeoutError):
            p.notify.recv(4096)
    finally:
        p.notify.close()
