"""The state store: the last result of every check, alert state per dedup
key, the outbox and silences. SQLAlchemy Core on its own engine (a SQLite file
by default, PostgreSQL for production and HA). The schema is versioned and
upgraded at start-up by an ordered list of migrations.

It never holds a secret: no URL, routing key or webhook is written here,
only check names, values, dedup keys and notification payloads.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from monitor.dburl import DatabaseUrl
from monitor.store_guard import sqlite_store_engine

log = logging.getLogger("billing_monitor.state")

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

silences = Table(
    "silences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("check_name", String(64), nullable=False),  # "*" mutes every check
    Column("starts_at", TS, nullable=False),
    Column("until", TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
)


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


def _v1(conn: Connection) -> None:
    for table in (check_runs, alerts, outbox):
        table.create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    silences.create(conn, checkfirst=True)


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    """ALTER TABLE ... ADD COLUMN for the named columns the table lacks (a
    store created by v1 from today's table definitions already has them)."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in have:
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


def _v3(conn: Connection) -> None:
    _add_columns(conn, alerts, "notified_channels", "owner")
    _add_columns(conn, outbox, "claimed_by")


# Append only; never edit a migration that has shipped.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]
LATEST = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    row = conn.execute(select(schema_version.c.version)).first()
    return int(row[0]) if row else 0


# Not a key alerting.py locks ("billing-monitor/<check>"; check names have no "-").
_MIGRATION_LOCK = zlib.crc32(b"billing-monitor/schema-migration")


def _lock_schema(conn: Connection) -> None:
    """Serialise migrations of processes starting at once (else both create the
    tables and one fails: IntegrityError on pg_type_typname_nsp_index). PostgreSQL:
    a transaction-level advisory lock (works through PgBouncer's transaction mode).
    SQLite: open_state's engine began with BEGIN IMMEDIATE, the write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})


def migrate(engine: Engine, upto: int = LATEST) -> int:
    """Bring the schema to `upto` (default: latest) in one transaction, one
    process at a time."""
    with engine.begin() as conn:
        _lock_schema(conn)
        version = current_version(conn)
        if version > LATEST:
            raise RuntimeError(
                f"state store schema version {version} is newer than this monitor ({LATEST})"
            )
        for number in range(version + 1, upto + 1):
            MIGRATIONS[number - 1](conn)
            log.info("state store: applied migration %d", number)
        if upto > version:
            if version == 0:
                conn.execute(schema_version.insert().values(version=upto))
            else:
                conn.execute(schema_version.update().values(version=upto))
        return max(version, upto)


def _wal(dbapi_conn: Any, timeout: float = 30.0) -> None:
    """Switch a SQLite file to WAL. On a new file that several processes open at
    once, SQLite answers "database is locked" at once instead of waiting for
    the busy timeout: retry within the same bound as the connect timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _sqlite_immediate(engine: Engine) -> None:
    """SQLite: take the write lock at BEGIN, so a read-modify-write of alert
    state in two processes serialises instead of failing at commit."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        # WAL: one fsync per commit instead of several, and `status` can read
        # while a check writes. synchronous stays FULL: a commit survives power loss.
        _wal(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_state(url: str) -> Engine:
    """An engine on the state store, its schema migrated to the latest version.
    A SQLite file is created (and migrated) here, once: the engine returned
    never creates it again (monitor/store_guard.py)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        _sqlite_immediate(engine)
        path = u.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            migrate(engine)
            engine.dispose()
            engine = sqlite_store_engine(path, lambda: datetime.now(UTC))
            _sqlite_immediate(engine)
    else:
        engine = create_engine(
            url, pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "billing-monitor"},
        )
    migrate(engine)
    return engine


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
