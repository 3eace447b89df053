"""The plain sections of the settings file, each a strict frozen model.
Sections owned by a subsystem live beside it (alerts/config.py,
checks/stripe_config.py, monitor/state.py); monitor/settings.py assembles them."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.dburl import DatabaseUrl
from monitor.period import PeriodKind


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (use an IANA name such as UTC)") from None
    return v


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorSection(Section):
    service: str = Field(default="billing", min_length=1)
    env: str = Field(default="production", min_length=1)
    sample_limit: int = Field(default=20, ge=0, le=100)


class DatabaseSection(Section):
    url: DatabaseUrl = "sqlite:///billing.db"


class PeriodSection(Section):
    kind: PeriodKind = "iso_week"
    timezone: str = "UTC"
    offset: int = Field(default=0, ge=-52, le=0)

    _tz = field_validator("timezone")(_zone)


class StatsdSection(Section):
    enabled: bool = True
    namespace: str = Field(default="billing.", pattern=r"^([a-z][a-z0-9_.]*\.)?$")
    host: str = "127.0.0.1"
    port: int = Field(default=8125, ge=1, le=65535)
    socket_path: str | None = None
    tags: tuple[str, ...] = ()


class DaemonSection(Section):
    """`billing-monitor run`: scheduling and lifecycle (monitor/daemon.py)."""

    timezone: str = "UTC"  # the zone the checks' cron schedules are read in
    # A run that starts late by up to this much still runs (APScheduler's own
    # default of 1 s silently skips runs after a pause or a busy pool).
    misfire_grace_seconds: int = Field(default=300, ge=1, le=86400)
    jitter_seconds: int = Field(default=0, ge=0, le=3600)
    max_workers: int = Field(default=4, ge=1, le=64)
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # /healthz fails when no check run completed for this long; default: twice
    # the shortest gap between scheduled runs plus the longest timeout.
    max_cycle_age_seconds: float | None = Field(default=None, gt=0)

    _tz = field_validator("timezone")(_zone)


class HttpSection(Section):
    """/metrics and /healthz (monitor/httpd.py). Loopback unless told otherwise."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=0, le=65535)


class LoggingSection(Section):
    """auto: JSON under journald or when stderr is not a terminal."""

    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
