"""Shared fixtures: real peers on loopback, started by the suite itself."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.peers import postgres
from tests.peers.http_fixtures import (  # noqa: F401  (HTTP peer fixtures)
    google_chat_peer,
    healthchecks_peer,
    pagerduty_peer,
    slack_peer,
    tls,
)
from tests.peers.statsd import UdpListener, udp_listener

_COPY = Path(__file__).resolve().parents[1] / "billing_monitor"
if _COPY.is_dir() and "MUTANT_UNDER_TEST" not in os.environ:
    # bench/mutation.py's copy of the package, left by an interrupted run: it
    # would shadow the code under test (the checkout is first on sys.path).
    raise pytest.UsageError(f"{_COPY} is a stale copy left by bench.mutation: remove it")


@pytest.fixture
def statsd() -> Iterator[UdpListener]:
    with udp_listener() as listener:
        yield listener


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PostgresServer]:
    if not postgres.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    with postgres.postgres_server() as server:
        yield server


# Hypothesis on a shared, loaded machine: no per-example deadline (a slow example
# is not a failure); CI runs a fixed number of examples, printed on failure.
settings.register_profile("default", deadline=None, print_blob=True)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A command run in-process (cli.run) configures logging for the whole
    process: its handlers, warnings routed to logging, the thread excepthook.
    Put them back after every test, so that no test depends on which ran
    before it (pytest's own capture handlers are left to pytest)."""
    root = logging.getLogger()
    handlers, level, hook = set(root.handlers), root.level, threading.excepthook
    logging.captureWarnings(False)
    yield
    for h in list(root.handlers):
        if h not in handlers and not type(h).__module__.startswith("_pytest"):
            root.removeHandler(h)
    root.setLevel(level)
    threading.excepthook = hook
    logging.captureWarnings(False)
