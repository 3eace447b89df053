"""An operator opens the page on a running daemon (the real `billing-monitor
run` process) and sees what `status` says: `/` and `/api/status` on its HTTP
endpoint, the same document as `billing-monitor status --json`; and with a
token in the environment, nobody reads it without the token."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import clock
from tests.daemon_helpers import free_port
from tests.helpers import cli
from tests.peers.http_services import SlackPeer
from tests.status_support import validate
from tests.test_daemon_process import Proc, start, wait_for

pytestmark = pytest.mark.clock  # starts the real process
TOKEN = "status-token-for-the-daemon-test"


def _config(tmp_path: Path, port: int) -> Path:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{db}"
[state]
url = "sqlite:///{tmp_path / 'state.db'}"
[statsd]
enabled = false
[http]
port = {port}
[checks.refunds]
type = "sql"
query = "SELECT 25"
thresholds = {{ warning = 5, critical = 10 }}
[checks.invoices]
type = "sql"
query = "SELECT 1"
thresholds = {{ critical = 10 }}
""")
    return cfg


@pytest.fixture
def daemon(tmp_path: Path, slack_peer: SlackPeer) -> Iterator[Proc]:
    port = free_port()
    p = start(tmp_path, _config(tmp_path, port), "run", "--run-now", "--log-format", "json",
              port=port, extra_env={"SLACK_WEBHOOK_URL": slack_peer.webhook_url,
                                    "BILLING_MONITOR_STATUS_TOKEN": TOKEN,
                                    **clock.process_env()})
    yield p
    if p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()
    p.notify.close()


def _same(doc: dict[str, Any]) -> Any:
    """What both must agree on (the times of reading differ)."""
    return ([(c["name"], c["status"], c["values"], c["last_run"], c["error"])
             for c in doc["checks"]],
            [(i["dedup_key"], i["severity"], i["delivery"]) for i in doc["incidents"]])


def test_the_running_daemon_serves_what_status_says(
        tmp_path: Path, daemon: Proc, slack_peer: SlackPeer) -> None:
    p = daemon
    wait_for("the first alert", lambda: len(slack_peer.messages) == 1, p)
    assert httpx.get(f"{p.url}/api/status").status_code == 401  # the token is set
    api = httpx.get(f"{p.url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 200
    doc = api.json()
    validate(doc)
    by = {c["name"]: c for c in doc["checks"]}
    assert (by["refunds"]["status"], by["invoices"]["status"]) == ("CRIT", "OK")
    assert [s["points"][-1][1] for s in by["refunds"]["series"]] == [25.0]
    page = httpx.get(f"{p.url}/", auth=("oncall", TOKEN))
    assert page.status_code == 200 and 'src="/chart/refunds.svg"' in page.text
    chart = httpx.get(f"{p.url}/chart/refunds.svg", auth=("oncall", TOKEN))
    assert chart.status_code == 200 and "<svg" in chart.text
    assert httpx.get(f"{p.url}/chart/refunds.svg").status_code == 401
    assert TOKEN not in page.text + api.text + chart.text + p.stderr()
    r = cli("--config", str(tmp_path / "bm.toml"), "status", "--json")
    assert r.returncode == 0, r.stderr
    assert _same(json.loads(r.stdout)) == _same(doc)
    # The daemon says what it is; the command is no instance. SQLite: one, no lease.
    assert doc["leadership"]["this_instance"] == {"holder": None, "role": "leader"}
    assert json.loads(r.stdout)["leadership"]["this_instance"] is None
