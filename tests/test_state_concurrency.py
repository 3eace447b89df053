"""Several monitor processes starting at once on an empty state store (a
cron `check` and the daemon, or two HA hosts): every one of them must come up
with alerting. Each round gives a fresh, empty store to already-started worker
processes at the same instant, so that their schema creations race."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from billing_monitor.alerting.migrations import LATEST
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import schema_version
from tests.helpers import ROOT
from tests.peers.postgres import PostgresServer

PROCESSES = 4
ROUNDS = 20  # the unlocked migration failed in about 1 round in 3 on PostgreSQL

WORKER = """
import sys
from billing_monitor.alerting.store import open_state
for line in sys.stdin:
    try:
        open_state(line.strip()).dispose()
        print("ok", flush=True)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], flush=True)
"""


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(PROCESSES)]
    yield procs
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=60)


def race(procs: list[subprocess.Popen[str]], fresh: Callable[[int], str]) -> None:
    failures = []
    for n in range(ROUNDS):
        url = fresh(n)
        for p in procs:  # the same empty store to every process at once
            assert p.stdin is not None
            p.stdin.write(url + "\n")
            p.stdin.flush()
        answers = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
        failures += [f"round {n}: {a}" for a in answers if a != "ok"]
        engine = open_state(url)  # and the store ends up whole, at the latest version, once
        with engine.connect() as conn:
            assert conn.execute(select(schema_version.c.version)).scalars().all() == [LATEST]
        assert {"check_runs", "alerts", "outbox", "silences"} <= set(
            inspect(engine).get_table_names())
        engine.dispose()
    assert failures == []


@pytest.mark.postgres
def test_processes_starting_at_once_on_an_empty_postgres_store(
    workers: list[subprocess.Popen[str]], pg_server: PostgresServer,
) -> None:
    race(workers, lambda n: pg_server.fresh_database(f"race_{n}"))


def test_processes_starting_at_once_on_an_empty_sqlite_store(
    workers: list[subprocess.Popen[str]], tmp_path: Path,
) -> None:
    race(workers, lambda n: f"sqlite:///{tmp_path / f'state_{n}.db'}")
