"""`billing-monitor demo` as a user runs it: a subprocess with DogStatsD on a
UDP socket; its numbers checked against its own database, counted by hand."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.peers.statsd import UdpListener
from tests.test_cli import _agent

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks


def _count_by_hand(db: Path, week: str) -> dict[str, int]:
    """The demo database counted with plain SQL written from docs/schema.md
    ("What each check counts"), for the ISO week `week` (e.g. 2026-W47)."""
    year, num = week.split("-W")
    start = date.fromisocalendar(int(year), int(num), 1)
    end = start + timedelta(days=7)
    period = "billing_date >= ? AND billing_date < ?"
    with sqlite3.connect(db) as conn:
        def one(sql: str) -> int:
            return int(conn.execute(sql, (start.isoformat(), end.isoformat())).fetchone()[0])
        return {
            "unbilled_orders": one(f"SELECT COUNT(*) FROM orders WHERE status = 'active' "
                                   f"AND NOT billed AND {period}"),
            "missing_billing_records": one(
                f"SELECT COUNT(*) FROM orders o WHERE billed AND {period} AND o.id NOT IN "
                "(SELECT order_id FROM billing_records)"),
            "failed_charges": one(
                f"SELECT COUNT(DISTINCT o.id) FROM orders o JOIN charge_attempts c ON "
                f"c.order_id = o.id AND c.status = 'failed' WHERE o.status = 'active' "
                f"AND NOT o.billed AND {period}"),
        }


def test_demo_runs_from_any_directory_and_sends_gauges(tmp_path: Path,
                                                       statsd: UdpListener) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("demo", "--json", "--dir", str(tmp_path / "d"), env=_agent(statsd), cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    values = {x["check"]: x["measurements"][0]["value"] for x in doc["results"]
              if x["check"] != "orders_by_status"}
    # What the README promises the demo holds, and what its database really holds.
    assert values == {"unbilled_orders": 14, "missing_billing_records": 1, "failed_charges": 3}
    week = doc["results"][0]["period"]
    assert _count_by_hand(tmp_path / "d" / "billing-demo.db", week) == values
    received = statsd.receive(len(doc["sent"]))
    assert "billing.unbilled_orders:14|g|#env:demo,service:billing,source:demo," \
           "check:unbilled_orders" in received
    assert any(line.startswith("_sc|billing.health|2|") for line in received)


def test_demo_human_output(tmp_path: Path) -> None:
    r = cli("demo", "--dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for needle in ("unbilled_orders", "CRIT", "Sample ids", "Sent to DogStatsD"):
        assert needle in r.stdout

