"""Small builders the tests share: a demo billing database and configs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.app import open_engine
from monitor.demo import populate
from monitor.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]
# Thursday of ISO week 2026-W47, 05:30 UTC: the article's schedule.
NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)


def demo_db(tmp_path: Path, now: datetime = NOW) -> Path:
    """A SQLite file with the demo week (14 unbilled, 3 failed, 1 missing)."""
    path = tmp_path / "billing.db"
    settings = parse_settings({"checks": {"unbilled_orders": {}}}, "<test>", {})
    engine = open_engine(f"sqlite:///{path}", read_only=False)
    populate(engine, settings, now)
    engine.dispose()
    return path


def settings_for(raw: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    return parse_settings(raw, "<test>", env or {})


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    exe = Path(sys.executable).parent / "billing-monitor"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "BILLING_"))}
    full_env.update(env or {})
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=120)
