"""Small builders the tests share: a demo billing database and configs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.period import current_period
from billing_monitor.commands.demo_data import populate
from billing_monitor.settings.load import parse_settings
from billing_monitor.settings.model import Settings
from tests import clock

ROOT = Path(__file__).resolve().parents[1]
# Thursday of ISO week 2026-W47, 05:30 UTC: the article's schedule.
NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)


def plant(path: Path, now: datetime, *, zone: str = "UTC", periods: int = 1) -> Path:
    """A SQLite file with the demo week (14 unbilled, 3 failed, 1 missing) in
    the ISO week (in `zone`) that holds `now`, and in the `periods - 1` after it."""
    settings = parse_settings({"period": {"timezone": zone}, "checks": {"unbilled_orders": {}}},
                              "<test>", {})
    engine = open_engine(f"sqlite:///{path}", read_only=False)
    for i in range(periods):
        populate(engine, settings, now, first_id=1 + 100_000 * i)
        now = current_period("iso_week", zone, now).end_at
    engine.dispose()
    return path


def demo_db(tmp_path: Path, now: datetime = NOW) -> Path:
    """The demo week around `now`, for code run in-process with that clock
    or asked about that time (`check --at`)."""
    return plant(tmp_path / "billing.db", now)


def live_demo_db(tmp_path: Path, zone: str = "UTC", name: str = "billing.db") -> Path:
    """The demo week for a `billing-monitor` process started now: planted in
    this week and the next (by the clock that process reads), so it finds
    the same numbers even when its run lands after a week boundary."""
    return plant(tmp_path / name, clock.now(), zone=zone, periods=2)


def settings_for(raw: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    return parse_settings(raw, "<test>", env or {})


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    exe = Path(sys.executable).parent / "billing-monitor"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "BILLING_"))}
    full_env.update(clock.process_env())
    full_env.update(env or {})
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=120)
