"""Shared by the daemon tests: a demo billing database and config files."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from monitor.app import open_engine
from monitor.demo import demo_database, populate
from monitor.demo_command import demo_settings

NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)  # a Thursday, as in the article


def make_demo_db(directory: Path, now: datetime = NOW) -> Path:
    path = demo_database(directory)
    settings = demo_settings(path)
    engine = open_engine(settings.database.url, read_only=False)
    populate(engine, settings, now)
    engine.dispose()
    return path


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
) -> Path:
    path.write_text(f"""
[monitor]
env = "test"

[database]
url = "sqlite:///{db}"

[statsd]
host = "127.0.0.1"
port = {statsd_port}
tags = ["team:billing"]

[daemon]
shutdown_timeout_seconds = 20

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
