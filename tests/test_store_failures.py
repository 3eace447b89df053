"""The exit code never hides a critical check, and a state store that fails
is loud (issue 8): a store that takes no writes gives `check` 2 for a
critical check (69 otherwise) and `silence` 69, never 70; the daemon reports
it at ERROR, on /healthz (503) and in a metric; a store file deleted under a
running daemon is written back from the open database, nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import clock
from tests.daemon_helpers import free_port
from tests.helpers import cli
from tests.peers.http_services import SlackPeer
from tests.test_daemon_process import Proc, start, value, wait_for

pytestmark = pytest.mark.clock  # starts the real process


def _config(tmp_path: Path, check_value: int, state: str | None = None, port: int = 0) -> Path:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    store = state or f"sqlite:///{tmp_path / 'state.db'}"
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{db}"
[state]
url = "{store}"
[statsd]
enabled = false
[http]
port = {port}
[checks.refunds]
type = "sql"
query = "SELECT {check_value}"
thresholds = {{ critical = 10 }}
""")
    return cfg


def _read_only_store(tmp_path: Path, slack: SlackPeer) -> str:
    """A migrated store, then opened read-only (as on a read-only mount)."""
    env = {"SLACK_WEBHOOK_URL": slack.webhook_url}
    assert cli("--config", str(_config(tmp_path, 0)), "check", env=env).returncode == 0
    return f"sqlite:///file:{tmp_path / 'state.db'}?mode=ro&uri=true"


@pytest.mark.parametrize(("check_value", "code"), [(25, 2), (0, 69)], ids=["crit", "ok"])
def test_check_with_a_store_that_takes_no_writes(
    tmp_path: Path, slack_peer: SlackPeer, check_value: int, code: int,
) -> None:
    store = _read_only_store(tmp_path, slack_peer)
    cfg = _config(tmp_path, check_value, store)
    r = cli("--config", str(cfg), "check", env={"SLACK_WEBHOOK_URL": slack_peer.webhook_url})
    assert r.returncode == code, r.stderr  # critical wins; else the store's 69, never 70
    assert "does not take writes: OperationalError: attempt to write a readonly database" \
        in r.stdout
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


def test_silence_with_a_store_that_takes_no_writes_is_69(
    tmp_path: Path, slack_peer: SlackPeer,
) -> None:
    cfg = _config(tmp_path, 25, _read_only_store(tmp_path, slack_peer))
    r = cli("--config", str(cfg), "silence", "refunds", "--minutes", "30", "--reason", "deploy")
    assert r.returncode == 69
    assert "does not take writes" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("chattr"),
                    reason="an immutable file needs root and chattr")
def test_check_with_an_immutable_store_file_still_exits_2(
    tmp_path: Path, slack_peer: SlackPeer,
) -> None:
    """A read-only file even for root: `chattr +i` (where the file system has it)."""
    _read_only_store(tmp_path, slack_peer)
    path = tmp_path / "state.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable flag")
    try:
        r = cli("--config", str(_config(tmp_path, 25)), "check",
                env={"SLACK_WEBHOOK_URL": slack_peer.webhook_url})
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not take writes" in r.stdout


@pytest.fixture
def daemon(tmp_path: Path, slack_peer: SlackPeer) -> Iterator[Proc]:
    port = free_port()
    cfg = _config(tmp_path, 25, port=port)
    p = start(tmp_path, cfg, "run", "--run-now", "--log-format", "json", port=port,
              extra_env={"SLACK_WEBHOOK_URL": slack_peer.webhook_url, **clock.process_env()})
    yield p
    if p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()
    p.notify.close()


def test_a_store_deleted_under_the_daemon_is_written_back_and_reported(
    tmp_path: Path, daemon: Proc, slack_peer: SlackPeer,
) -> None:
    p = daemon
    wait_for("the first alert", lambda: len(slack_peer.messages) == 1, p)
    store = tmp_path / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    p.signal(signal.SIGUSR1)  # the next run writes: the deletion is noticed at once
    wait_for("the store written back", store.exists, p)
    wait_for("the ERROR line", lambda: "was deleted while in use" in p.stderr(), p)
    health = httpx.get(f"{p.url}/healthz")
    assert health.status_code == 503
    assert any("state store file was deleted" in r for r in health.json()["reasons"])
    assert value(p, "billing_state_store_up") == 0
    # Nothing was lost: the open incident is in the file `status` reads.
    r = cli("--config", str(tmp_path / "bm.toml"), "status", "--json")
    assert [i["check"] for i in json.loads(r.stdout)["incidents"]] == ["refunds"]
    time.sleep(0.2)
    assert len(slack_peer.messages) == 1  # and it did not page twice


def test_a_store_that_stops_taking_writes_is_an_error_and_a_503(
    tmp_path: Path, daemon: Proc, slack_peer: SlackPeer,
) -> None:
    p = daemon
    wait_for("the first alert", lambda: len(slack_peer.messages) == 1, p)
    assert httpx.get(f"{p.url}/healthz").status_code == 200
    store = tmp_path / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    store.mkdir()  # something that is not a database took its place: no write can land
    p.signal(signal.SIGUSR1)
    wait_for("a 503", lambda: httpx.get(f"{p.url}/healthz").status_code == 503, p)
    assert value(p, "billing_state_store_up") == 0
    reasons = httpx.get(f"{p.url}/healthz").json()["reasons"]
    assert any("unable to open database file" in r for r in reasons), reasons
    errors = [json.loads(line)["event"] for line in p.stderr().splitlines()
              if '"level": "error"' in line]
    assert any("did not take the alert state of refunds" in e for e in errors), errors
