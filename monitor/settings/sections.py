"""The plain sections of the settings file, each a strict frozen model.
Sections owned by a subsystem live beside it (alerts/config.py,
checks/stripe/config.py, monitor/alerting/store.py); monitor/settings/load.py assembles them."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from billing_monitor.checks.names import check_service_name, check_tag
from billing_monitor.checks.period import PeriodKind
from billing_monitor.settings.urls import BillingDatabaseUrl, DatabaseUrl

# DNS names, with "_" as container networks allow it.
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+")


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (use an IANA name such as UTC)") from None
    return v


def is_host(v: str) -> bool:
    """An IP address or a DNS host name, nothing else (no port, scheme or space)."""
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(v)) and not v.replace(".", "").isdigit()
    return True


def _host(v: str) -> str:
    if not is_host(v):
        raise ValueError(f"{v!r} is not an IP address or host name")
    return v


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tags(v: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(check_tag(t) for t in v)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorSection(Section):
    service: str = Field(default="billing", min_length=1)
    env: str = Field(default="production", min_length=1)
    sample_limit: int = Field(default=20, ge=0, le=100)

    # Part of every dedup key and tag: the safe set in checks/names.py.
    _names = field_validator("service", "env")(check_service_name)


class DatabaseSection(Section):
    url: BillingDatabaseUrl = "sqlite:///billing.db"


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

    _host = field_validator("host")(_host)
    _tags = field_validator("tags")(_tags)


class DaemonSection(Section):
    """`billing-monitor run`: scheduling and lifecycle (monitor/daemon/loop.py)."""

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
    """/metrics and /healthz (monitor/daemon/http.py). Loopback unless told otherwise."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=0, le=65535)
    # Serving beyond this host must be asked for: /metrics tells the world
    # what billing looks like. A warning is logged when it is.
    allow_remote: bool = Field(default=False, validate_default=True)
    # Bounded resources: a slow or idle client is dropped after the read
    # timeout; connections beyond the cap are closed at once.
    read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_connections: int = Field(default=16, ge=1, le=256)

    _host = field_validator("host")(_host)

    @field_validator("allow_remote")
    @classmethod
    def _remote(cls, v: bool, info: ValidationInfo) -> bool:
        host = info.data.get("host")
        enabled = info.data.get("enabled", True)
        if enabled and host is not None and not v and not is_loopback(host):
            raise ValueError(f"must be true to serve on host {host!r}, which is not a "
                             "loopback address (/metrics and /healthz would be reachable "
                             "from other hosts)")
        return v


class LoggingSection(Section):
    """auto: JSON under journald or when stderr is not a terminal."""

    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class StateSection(BaseModel):
    """`[state]`: where alert state and the outbox live. Not the billing DB:
    the monitor only reads that one. BILLING_MONITOR_STATE_URL overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: DatabaseUrl = "sqlite:///billing-monitor-state.db"
    # Who this configuration is, among those sharing the store: only the owner
    # of a check's incidents resolves them when the check leaves its
    # configuration. Default: the host name. Set one name for instances that run
    # one configuration from several hosts (containers, a standby).
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    # PostgreSQL store: instances sharing it elect one active instance through a
    # lease of this length, renewed every third of it; a standby takes over
    # within two lease lengths of the leader's death or pause. SQLite: unused.
    lease_seconds: float = Field(default=15.0, ge=1.0, le=600.0)


class OutboxSection(BaseModel):
    """`[outbox]`: delivery retries. Backoff doubles from `backoff_seconds` up to
    `backoff_max_seconds` (with jitter); a row is dead after `max_attempts`
    attempts or `max_age_hours`, whichever comes first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backoff_seconds: float = Field(default=30.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=1800.0, gt=0, le=86400)
    max_attempts: int = Field(default=20, ge=1, le=1000)
    max_age_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    keep_days: float = Field(
        default=7, gt=0, le=365, description="delivered and dead rows are kept this long"
    )
    drain_seconds: float = Field(
        default=20.0, ge=0, le=600, description="how long `check` delivers after its run"
    )
    dispatch_seconds: float = Field(
        default=15.0, ge=1, le=3600, description="how often the daemon delivers the outbox"
    )
