"""The status document's and page's leadership block read issue 11's lease
(leader_lease) on a real PostgreSQL store with two holders: who leads, since
when and at which epoch, whether the instance serving the page stands by, a
lapsed lease said plainly; `status --json` (no instance) reads the same row.
Expiry is made on the database's clock, never by waiting."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from billing_monitor.alerting import lease
from billing_monitor.alerting.status_doc import build_document
from billing_monitor.alerting.store import open_state
from billing_monitor.commands import cli
from billing_monitor.daemon.page import render_page
from tests.peers.postgres import PostgresServer
from tests.status_support import NOW, validate

A, B = "host-a:101:aaaa", "host-b:202:bbbb"


@pytest.fixture
def pg_store(pg_server: PostgresServer) -> Iterator[tuple[Engine, str]]:
    url = pg_server.fresh_database("status_leadership")
    store = open_state(url)
    try:
        yield store, url
    finally:
        store.dispose()


def take(store: Engine, holder: str) -> lease.Term | None:
    with store.begin() as conn:
        return lease.acquire(conn, holder, 30)


def lead(store: Engine, me: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    doc = build_document(store, {}, NOW, instance=me)
    validate(doc)
    return doc["leadership"], " ".join(render_page(doc, NOW).split())


def test_two_holders_the_leader_the_standby_a_lapse_and_a_takeover(
        pg_store: tuple[Engine, str]) -> None:
    store, _ = pg_store
    first = take(store, A)
    assert first is not None and take(store, B) is None  # B must wait: A holds it
    seen, page = lead(store, {"holder": B, "role": "standby"})
    assert seen == {"mode": "lease", "leader": A, "holder": A, "epoch": first.epoch,
                    "since": seen["since"], "lease_until": seen["lease_until"], "held": True,
                    "this_instance": {"holder": B, "role": "standby"}}
    assert seen["since"] is not None and seen["lease_until"] is not None
    assert f"Leader: <code>{A}</code>, since" in page
    assert f"This instance (<code>{B}</code>) is standing by." in page
    renewed = take(store, A)  # a renewal keeps the epoch and the start of the term
    assert renewed is not None and (renewed.epoch, renewed.since) == (first.epoch, first.since)

    with store.begin() as conn:  # A stops renewing: its lease lapses
        conn.execute(text("UPDATE leader_lease SET expires_at = clock_timestamp() "
                          "- interval '1 second'"))
    seen, page = lead(store, {"holder": B, "role": "standby"})
    assert (seen["leader"], seen["holder"], seen["held"]) == (None, A, False)
    assert f"No instance is active: the lease of <code>{A}</code>" in page
    assert 'class="lease lapsed"' in page

    second = take(store, B)
    assert second is not None and second.epoch == first.epoch + 1
    assert first.since is not None and second.since is not None and second.since > first.since
    seen, page = lead(store, {"holder": B, "role": "leader"})
    assert (seen["leader"], seen["epoch"], seen["held"]) == (B, second.epoch, True)
    assert f"This instance (<code>{B}</code>) leads." in page


def test_status_json_reads_the_lease_and_is_no_instance(
        pg_store: tuple[Engine, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    store, url = pg_store
    term = take(store, A)
    assert term is not None
    with sqlite3.connect(tmp_path / "billing.db") as conn:
        conn.execute("CREATE TABLE t (v INTEGER)")
    cfg = tmp_path / "billing-monitor.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///billing.db"\n[state]\nurl = "{url}"\n'
                   '[checks.c]\ntype = "sql"\nmetric = "c"\nquery = "SELECT v FROM t"\n')
    capsys.readouterr()
    assert cli.run(["--config", str(cfg), "status", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["leadership"]
    assert (got["leader"], got["epoch"], got["this_instance"]) == (A, term.epoch, None)


def test_a_sqlite_store_is_one_instance(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        seen, page = lead(store, {"holder": "sole", "role": "leader"})
    finally:
        store.dispose()
    assert (seen["mode"], seen["held"], seen["leader"]) == ("single", True, None)
    assert "One instance: the SQLite store has no lease" in page
