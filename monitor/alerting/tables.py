"""The state store's tables: the last result of every check, alert state per
dedup key, the outbox and silences (SQLAlchemy Core). It never holds a secret:
no URL, routing key or webhook is written here, only check names, values,
dedup keys, notification payloads and measured values. The schema is versioned
(migrations.py); the engine is opened by store.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from billing_monitor.alerting.history import define_history

metadata = MetaData()
TS = DateTime(timezone=True)

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, nullable=False),
)

check_runs = Table(
    "check_runs", metadata,
    Column("check_name", String(64), primary_key=True),
    Column("status", String(8), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("period", String(32), nullable=False),
    Column("value", Float),
    Column("duration_s", Float, nullable=False),
    Column("error", Text),
    Column("result", JSON, nullable=False),
)

alerts = Table(
    "alerts", metadata,
    Column("dedup_key", String(200), primary_key=True),
    Column("check_name", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # status | degraded
    Column("status", String(8)),  # last status seen (for the check, on its current key)
    Column("since", TS),
    Column("bad_count", Integer, nullable=False, default=0),
    Column("ok_count", Integer, nullable=False, default=0),
    Column("unknown_count", Integer, nullable=False, default=0),
    Column("is_open", Boolean, nullable=False, default=False),
    Column("severity", String(16)),
    Column("opened_at", TS),
    Column("notified_severity", String(16)),
    Column("last_notified_at", TS),
    Column("updated_at", TS, nullable=False),
    Column("seq", Integer, nullable=False, default=0),  # orders keys of one check
    # v3: the channels the current trigger was queued for (comma-separated), so a
    # channel configured later still hears of an open incident
    Column("notified_channels", Text),
    # v3: the configuration that last ran the check (`[state] owner`): only it
    # retires the check's incidents when the check leaves its configuration
    Column("owner", String(200)),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", TS, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False, index=True),
    Column("delivered_at", TS),
    Column("dead", Boolean, nullable=False, default=False),
    Column("last_error", Text),
    Column("claimed_by", String(200)),  # v3: holder of the attempt in flight (holder.py)
)

# v4: one "source down" incident per source (alerting/sources.py)
source_incidents = Table(
    "source_incidents", metadata,
    Column("source", String(32), primary_key=True),  # database | stripe
    Column("dedup_key", String(200), nullable=False),
    Column("is_open", Boolean, nullable=False, default=False),
    Column("opened_at", TS),
    Column("checks", Text),  # the checks that found it down (comma-separated)
    Column("notified_channels", Text),
    Column("updated_at", TS, nullable=False),
)

silences = Table(
    "silences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_name", String(64), nullable=False),  # "*" mutes every check
    Column("starts_at", TS, nullable=False),
    Column("until", TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
)

# v6: who is the active instance among those sharing the store (lease.py)
leader_lease = Table(
    "leader_lease", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("epoch", Integer, nullable=False),  # +1 at every change of holder
    Column("expires_at", TS, nullable=False),  # the database's clock, never a host's
    Column("renewed_at", TS, nullable=False),
    Column("acquired_at", TS, nullable=True),  # v8: when this holder took it
)

# v4: values over time, downsampled (history.py)
measurements = define_history(metadata)


@overload
def utc(dt: datetime) -> datetime: ...
@overload
def utc(dt: None) -> None: ...
def utc(dt: datetime | None) -> datetime | None:
    """Every timestamp is stored and compared in UTC. SQLite keeps no zone, so
    a value read back without one is UTC by construction."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
