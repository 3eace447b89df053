"""`billing-monitor validate --connect`: connect to the billing database as
the daemon would and verify what the configuration cannot say alone.

- every SQL check's query (and sample query), and the payment_volume and
  payment_freshness queries with their :window_start/:window_end and :now,
  are planned by the database with EXPLAIN, never run: an unknown table or
  column, or a missing SELECT privilege, is a problem (exit 78);
- the role's power, which should be SELECT on the tables the checks name and
  nothing else (docs/database-role.md): write privileges on any table or
  sequence, CREATE on the database or a schema, superuser or the other
  role attributes, and `default_transaction_read_only` not set on the role
  are warnings (exit 1);
- SQLite: the file is opened read-only anyway; a file this user could write
  is a warning.
Connecting at all failing is exit 69.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.engine import make_url

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.checks.contract import CheckContext
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.payment_freshness import SqlFreshnessOptions
from billing_monitor.checks.payment_sql import SqlVolumeOptions, compiled
from billing_monitor.checks.period import current_period
from billing_monitor.checks.sql import SqlOptions, compile_query, parameters
from billing_monitor.checks.sql_results import MAX_ROWS
from billing_monitor.checks.sqlguard import bounded
from billing_monitor.clock import utc_now
from billing_monitor.settings.model import Settings

EXPLAIN_TIMEOUT_S = 10.0

_ROLE = text(
    "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
    " FROM pg_roles WHERE rolname = current_user")
_ROLE_SETTINGS = text(
    "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = "
    "(SELECT oid FROM pg_roles WHERE rolname = current_user) AND setdatabase IN "
    "(0, (SELECT oid FROM pg_database WHERE datname = current_database()))")
_WRITABLE = text("""
SELECT n.nspname || '.' || c.relname,
       array_to_string(array_remove(ARRAY[
         CASE WHEN c.relkind <> 'S' AND has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
         CASE WHEN c.relkind <> 'S' AND has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
         CASE WHEN c.relkind <> 'S' AND has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
         CASE WHEN c.relkind <> 'S' AND has_table_privilege(c.oid, 'TRUNCATE')
              THEN 'TRUNCATE' END,
         CASE WHEN c.relkind = 'S' AND has_sequence_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
         CASE WHEN c.relkind = 'S' AND has_sequence_privilege(c.oid, 'USAGE') THEN 'USAGE' END
       ], NULL), ',')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1""")
_CREATE = text(
    "SELECT 'database ' || current_database() WHERE has_database_privilege(current_database(),"
    " 'CREATE') UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE "
    "has_schema_privilege(oid, 'CREATE') AND nspname NOT LIKE 'pg\\_%' "
    "AND nspname <> 'information_schema' ORDER BY 1")


class ConnectFailed(Exception):
    """The billing database could not be reached (exit 69)."""


@dataclass
class ConnectReport:
    database: str
    role: str | None = None
    verified: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # exit 78
    warnings: list[str] = field(default_factory=list)  # exit 1


Planned = tuple[str, str, TextClause, dict[str, Any]]  # check, key, statement, binds


def _queries(settings: Settings, ctx: CheckContext, prefix: str) -> list[Planned]:
    """Every query a check of the configuration runs, as EXPLAIN statements with
    the parameters the check binds: the payment checks' windows and :now too."""
    out: list[Planned] = []
    for name, options in settings.checks.items():
        if isinstance(options, SqlOptions):
            binds = parameters(ctx)
            out.append((name, "query",
                        compile_query(prefix + bounded(options.query, MAX_ROWS + 1)), binds))
            if options.sample_query:
                out.append((name, "sample_query", compile_query(
                    prefix + bounded(options.sample_query, MAX_ROWS + 1)), binds))
        elif isinstance(options, SqlVolumeOptions):
            window = {"window_start": ctx.now - timedelta(minutes=options.window_minutes),
                      "window_end": ctx.now}
            out.append((name, "query", compiled(options.query, MAX_ROWS + 1, prefix), window))
        elif isinstance(options, SqlFreshnessOptions):
            out.append((name, "query", compiled(options.query, 2, prefix), {"now": ctx.now}))
    return out


def _explain(conn: Connection, settings: Settings, report: ConnectReport) -> None:
    now = utc_now()
    p = settings.period
    ctx = CheckContext(current_period(p.kind, p.timezone, now, p.offset), now,
                       time.monotonic() + EXPLAIN_TIMEOUT_S, settings.monitor.sample_limit)
    prefix = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    for name, key, statement, binds in _queries(settings, ctx, prefix):
        try:
            with database_deadline(conn, time.monotonic() + EXPLAIN_TIMEOUT_S):
                conn.execute(statement, binds).all()
            report.verified.append(f"checks.{name}.{key}: planned by the database")
        except Exception as exc:
            first = str(getattr(exc, "orig", exc)).strip().splitlines()
            reason = first[0] if first else type(exc).__name__
            report.problems.append(f"{settings.source}: checks.{name}.{key}: the database "
                                   f"refuses it: {reason}")
        conn.rollback()


def _postgresql(conn: Connection, report: ConnectReport) -> None:
    role, superuser, *powers = conn.execute(_ROLE).one()
    report.role = str(role)
    if superuser:
        report.warnings.append(f"role {role} is a superuser: it can write anything and turn "
                               "read-only off")
    names = ("CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
    extra = [n for n, has in zip(names, powers, strict=True) if has]
    if extra:
        report.warnings.append(f"role {role} has {', '.join(extra)}; a monitoring role needs "
                               "none of them")
    settings = {s.partition("=")[0]: s.partition("=")[2]
                for s in conn.execute(_ROLE_SETTINGS).scalars()}
    if settings.get("default_transaction_read_only") != "on":
        report.warnings.append(f"role {role} does not have default_transaction_read_only = on "
                               f"(ALTER ROLE {role} SET default_transaction_read_only = on); "
                               "the monitor's sessions are read-only, other uses of the role "
                               "are not")
    else:
        report.verified.append(f"role {role}: default_transaction_read_only = on")
    writable = [f"{t} ({p})" for t, p in conn.execute(_WRITABLE).all() if p]
    if writable:
        shown = ", ".join(writable[:10]) + (f" and {len(writable) - 10} more"
                                             if len(writable) > 10 else "")
        report.warnings.append(f"role {role} can write: {shown}")
    else:
        report.verified.append(f"role {role}: no INSERT, UPDATE, DELETE or TRUNCATE on any "
                               "table, no sequence it can advance")
    create = list(conn.execute(_CREATE).scalars())
    if create:
        report.warnings.append(f"role {role} can CREATE in: {', '.join(create)}")
    conn.rollback()


def verify(settings: Settings) -> ConnectReport:
    url = make_url(settings.database.url)
    report = ConnectReport(url.render_as_string(hide_password=True))
    engine = open_engine(settings.database.url, timeout_s=EXPLAIN_TIMEOUT_S)
    try:
        try:
            conn = engine.connect()
        except Exception as exc:
            first = str(getattr(exc, "orig", exc)).strip().splitlines()
            raise ConnectFailed(f"billing database {report.database} is unavailable: "
                                f"{first[0] if first else type(exc).__name__}") from None
        with conn:
            if conn.dialect.name == "postgresql":
                _postgresql(conn, report)
            elif url.database and os.access(url.database, os.W_OK):
                report.warnings.append(f"{url.database} is writable by this user: checks "
                                       "open it read-only, but a file the monitor's user "
                                       "cannot write makes that hold by construction")
            _explain(conn, settings, report)
    finally:
        engine.dispose()
    return report
