"""The state store's schema, versioned and upgraded at start-up by an ordered
list of migrations, under a lock so that processes starting at once do not
race (PostgreSQL: a transaction-scoped advisory lock; SQLite: BEGIN IMMEDIATE)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from sqlalchemy import (
    Connection,
    Engine,
    Index,
    MetaData,
    Table,
    and_,
    inspect,
    select,
    text,
)

from billing_monitor.alerting.lease import UNFENCED
from billing_monitor.alerting.tables import (
    alerts,
    check_runs,
    leader_lease,
    measurements,
    outbox,
    schema_version,
    silences,
    source_incidents,
)

log = logging.getLogger("billing_monitor.state")


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


def _v4(conn: Connection) -> None:
    measurements.create(conn, checkfirst=True)  # the measurement history (history.py)


def _v5(conn: Connection) -> None:
    source_incidents.create(conn, checkfirst=True)  # one incident per unreachable source


def _partial(table: Table, name: str, where: object, *columns: str) -> Index:
    return Index(name, *(table.c[c] for c in columns),
                 sqlite_where=where, postgresql_where=where)


def _v6(conn: Connection) -> None:
    """Indexes for the outbox's hot queries, so that a dispatcher pass and the
    outbox gauges read the pending and dead rows, not every kept row
    (docs/benchmarks.md section 8): pending rows by id (the pass, the depth and
    its oldest age), dead rows (their count) and created_at (the prune). The
    predicates are written as the queries in outbox.py write them, which is
    what lets SQLite use a partial index."""
    # On a copy of the table: an Index joins its table's definition, and v1
    # creates today's definition (with its indexes) in a new store.
    table = outbox.to_metadata(MetaData())
    pending = and_(table.c.delivered_at.is_(None), table.c.dead.is_(False))
    for index in (_partial(table, "ix_outbox_pending", pending, "id", "created_at"),
                  _partial(table, "ix_outbox_dead", table.c.dead.is_(True), "id"),
                  Index("ix_outbox_created_at", table.c.created_at)):
        index.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    leader_lease.create(conn, checkfirst=True)  # one active instance (lease.py)


def _v8(conn: Connection) -> None:
    """When the lease's holder took it (the status page's "leading since").
    A store created at v7 from today's table definition has the column already."""
    if "acquired_at" not in {c["name"] for c in inspect(conn).get_columns("leader_lease")}:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "TIMESTAMP"
        conn.exec_driver_sql(f"ALTER TABLE leader_lease ADD COLUMN acquired_at {kind}")


# Append only; never edit a migration that has shipped.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]
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
    with engine.connect().execution_options(**{UNFENCED: True}) as conn, conn.begin():
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
