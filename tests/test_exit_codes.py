"""Exit codes of `billing-monitor check` (README "Exit codes"): when several
apply, a critical check wins (2), then an unreachable state store (69), then
a check that could not run (3), then a warning (1). Checked as a property of
any set of statuses, and through the real command in every combination."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_monitor.checks.contract import CheckResult, RunReport, Status
from billing_monitor.checks.period import current_period
from billing_monitor.commands import cli
from tests.helpers import ROOT
from tests.helpers import cli as run_cli

PRECEDENCE = (2, 69, 3, 1)  # the README's order, highest first
AT = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)


def documented(statuses: set[str], store_reachable: bool = True) -> int:
    """The README's rule, written from the README: OK 0, WARN 1, CRIT 2,
    UNKNOWN 3, unreachable store 69, the first of PRECEDENCE that applies."""
    codes = {{"OK": 0, "WARN": 1, "CRIT": 2, "UNKNOWN": 3}[s] for s in statuses}
    if not store_reachable:
        codes.add(69)
    return next((c for c in PRECEDENCE if c in codes), 0)


def report(statuses: list[Status]) -> RunReport:
    period = current_period("iso_week", "UTC", AT)
    return RunReport([CheckResult(f"c{i}", s, (), 0.0, AT, period)
                      for i, s in enumerate(statuses)])


@given(st.lists(st.sampled_from(list(Status)), max_size=8))
def test_the_exit_code_is_the_documented_function_of_the_statuses(
    statuses: list[Status],
) -> None:
    assert report(statuses).exit_code == documented({s.label for s in statuses})


CONFIG = """
[statsd]
enabled = false
[database]
url = "sqlite:///billing.db"
[checks.ok]
type = "sql"
query = "SELECT 0"
[checks.warn]
type = "sql"
query = "SELECT 5"
[checks.crit]
type = "sql"
query = "SELECT 50"
[checks.unknown]
type = "sql"
query = "SELECT v FROM no_such_table"
"""
THRESHOLDS = "[checks.{}.thresholds]\nwarning = 1\ncritical = 10\n"
NAMES = ("ok", "warn", "crit", "unknown")
SUBSETS = [c for n in range(1, 5) for c in itertools.combinations(NAMES, n)]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("PAGERDUTY_ROUTING_KEY", "SLACK_WEBHOOK_URL", "GOOGLE_CHAT_WEBHOOK_URL",
                "BILLING_MONITOR_PING_URL", "BILLING_MONITOR_STATE_URL",
                "BILLING_MONITOR_DATABASE_URL", "STRIPE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    sqlite3.connect(tmp_path / "billing.db").close()
    path = tmp_path / "billing-monitor.toml"
    path.write_text(CONFIG + "".join(THRESHOLDS.format(n) for n in NAMES))
    return path


@pytest.mark.parametrize("reachable", [True, False], ids=["store-ok", "store-down"])
def test_check_exit_code_in_every_combination(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    reachable: bool,
) -> None:
    if not reachable:  # nothing listens on port 1: refused at once
        monkeypatch.setenv("BILLING_MONITOR_STATE_URL",
                           "postgresql+psycopg://monitor:pw@127.0.0.1:1/state")
    got = {}
    for names in SUBSETS:
        got[names] = cli.run(["--config", str(config), "check", *names])
    capsys.readouterr()
    assert got == {n: documented({s.upper() for s in n}, reachable) for n in SUBSETS}


def test_an_internal_error_exits_70_in_one_line(tmp_path: Path) -> None:
    """Whatever no command expects (here `export datadog --out` under a file,
    which no code path handles) is exit 70: one line, no traceback."""
    example = ROOT / "config" / "billing-monitor.toml"
    r = run_cli("--config", str(example), "export", "datadog", "--out", "/dev/null/sub")
    assert r.returncode == 70, r.stderr
    assert r.stderr.splitlines() == [
        "billing-monitor: internal error: NotADirectoryError: [Errno 20] Not a directory: "
        "'/dev/null/sub'"]
