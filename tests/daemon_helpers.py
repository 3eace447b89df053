"""Shared by the daemon tests: a demo billing database and config files."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path

from tests.helpers import NOW, plant


def make_demo_db(directory: Path, now: datetime = NOW) -> Path:
    """The demo week around `now`, for a daemon run in-process with that clock."""
    return plant(directory / "billing-demo.db", now)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path,
    db: Path,
    *,
    statsd_port: int = 9,
    http_port: int = 0,
    http_enabled: bool = True,
    extra_checks: str = "",
    failed_charges_schedule: str = "30 5 * * 4",
    zone: str = "UTC",
) -> Path:
    path.write_text(f"""
[monitor]
env = "test"

[period]
timezone = "{zone}"

[database]
url = "sqlite:///{db}"

[statsd]
host = "127.0.0.1"
port = {statsd_port}
tags = ["team:billing"]

[daemon]
shutdown_timeout_seconds = 20
timezone = "{zone}"

[pagerduty]
# The tests' fake routing key must never reach the real Events API.
events_url = "https://events.pagerduty.invalid"

[http]
enabled = {str(http_enabled).lower()}
port = {http_port}

[checks.unbilled_orders]
schedule = "30 5 * * 4"
[checks.unbilled_orders.thresholds]
critical = 10

[checks.failed_charges]
schedule = "{failed_charges_schedule}"
[checks.failed_charges.thresholds]
warning = 0
critical = 10
{extra_checks}
""", "utf-8")
    return path
