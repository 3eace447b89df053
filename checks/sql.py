"""User-defined SQL checks, and the machinery the built-in billing checks share.

A query returns either one number, or rows with a `value` column whose other
columns become tags (`SELECT plan AS plan, COUNT(*) AS value ... GROUP BY plan`),
or exactly the columns `sample_id` and `value`: one row per sample id, at most
:sample_limit, each carrying the total (`COUNT(*) OVER ()`), no rows meaning 0.
That counts and samples in one pass, so no `sample_query` is needed (the
built-in billing checks do this; docs/benchmarks.md).
Queries run read-only, one statement each, rolled back, under the check's
deadline; a result is read strictly (checks/sql_results.py). Parameters
the query may use: see `PARAMETERS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Date, DateTime, Engine, Integer, String, TextClause, bindparam, text

from billing_monitor.checks.base import CheckOptions, CheckType, Services
from billing_monitor.checks.contract import CheckContext, Measurement
from billing_monitor.checks.deadline import database_deadline
from billing_monitor.checks.names import check_metric_name
from billing_monitor.checks.sources import connected
from billing_monitor.checks.sql_results import MAX_ROWS, is_one_pass, one_pass, tabular
from billing_monitor.checks.sqlguard import bounded, check_query

# The same pattern SQLAlchemy's text() uses to find bind parameters.
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")

PARAMETERS: dict[str, Any] = {
    "period_start": Date(),  # first day of the billing period (date)
    "period_end": Date(),  # first day after it (date); the period is [start, end)
    "period_start_at": DateTime(timezone=True),  # period start as a UTC timestamp
    "period_end_at": DateTime(timezone=True),  # period end as a UTC timestamp
    "period_label": String(),  # e.g. 2026-W47
    "now": DateTime(timezone=True),  # the run's clock, UTC
    "sample_limit": Integer(),  # how many sample ids to return (bound as at least 1)
}


def bind_names(query: str) -> set[str]:
    return set(_BIND.findall(query))


def check_parameters(query: str) -> str:
    unknown = bind_names(query) - PARAMETERS.keys()
    if unknown:
        raise ValueError(
            f"unknown query parameter(s) {', '.join(':' + u for u in sorted(unknown))}; "
            f"known: {', '.join(':' + k for k in PARAMETERS)}"
        )
    return query


def compile_query(query: str) -> TextClause:
    """A text() with typed binds, so dates reach SQLite and PostgreSQL correctly."""
    names = bind_names(query)
    return text(query).bindparams(
        *(bindparam(n, type_=t) for n, t in PARAMETERS.items() if n in names)
    )


def parameters(ctx: CheckContext) -> dict[str, date | datetime | str | int]:
    p = ctx.period
    return {
        "period_start": p.start,
        "period_end": p.end,
        "period_start_at": p.start_at,
        "period_end_at": p.end_at,
        "period_label": p.label,
        "now": ctx.now,
        # At least 1: a one-pass query (`sample_id`, `value`) with LIMIT 0 would
        # return no rows and so no count. The check keeps ctx.sample_limit ids.
        "sample_limit": max(1, ctx.sample_limit),
    }


class SqlOptions(CheckOptions):
    query: str = Field(description="SQL returning one number, or rows with a `value` column")
    sample_query: str | None = Field(
        default=None, description="SQL returning offending ids, at most :sample_limit rows"
    )
    metric: str | None = Field(default=None, description="metric name; defaults to the check name")

    @field_validator("query", "sample_query")
    @classmethod
    def _params(cls, v: str | None) -> str | None:
        # One read-only query, refused at load otherwise (checks/sqlguard.py).
        return None if v is None else check_query(check_parameters(v))

    @model_validator(mode="before")
    @classmethod
    def _own_query_own_samples(cls, data: Any) -> Any:
        # A replaced query means another schema: the built-in sample query
        # would not match it, so samples come only from a replaced one too.
        if isinstance(data, dict) and "query" in data and "sample_query" not in data:
            return {**data, "sample_query": None}
        return data

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str | None) -> str | None:
        return None if v is None else check_metric_name(v)

    def metric_names(self, name: str) -> tuple[str, ...]:
        return (self.metric or name,)


class SqlCheck:
    """Runs one counting query (and, when something is wrong, a capped sample).

    Each query is sent as one statement, wrapped so that the server returns at
    most `MAX_ROWS + 1` rows (the sample query: `sample_limit`); see
    checks/sqlguard.py. Memory does not grow with the result."""

    def __init__(
        self,
        name: str,
        engine: Engine,
        query: str,
        *,
        metric: str | None = None,
        sample_query: str | None = None,
    ) -> None:
        self.name = name
        self.metric = metric or name
        self._engine = engine
        self._query = compile_query(bounded(query, MAX_ROWS + 1))
        self._sample = compile_query(bounded(sample_query)) if sample_query else None

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        params = parameters(ctx)
        where = f"check {self.name}"
        with connected(self._engine) as conn, database_deadline(conn, ctx.deadline):
            result = conn.execute(self._query, params)
            columns = list(result.keys())
            rows = result.fetchall()  # at most MAX_ROWS + 1, by the wrapper
            if is_one_pass(columns):
                measurements = one_pass(self.metric, where, columns, rows, ctx.sample_limit)
            else:
                measurements = tabular(self.metric, where, columns, rows)
            if self._sample is not None and any(m.value for m in measurements):
                # At most :sample_limit (bound >= 1) rows, by the wrapper.
                ids = conn.execute(self._sample, params).scalars().all()
                samples = tuple(str(i) for i in ids[: ctx.sample_limit])
                measurements = [
                    Measurement(m.name, m.value, m.tags, samples) for m in measurements
                ]
            conn.rollback()
        return measurements


def build_sql(name: str, options: SqlOptions, services: Services) -> SqlCheck:
    return SqlCheck(
        name,
        services.billing_engine(),
        options.query,
        metric=options.metric,
        sample_query=options.sample_query,
    )


SQL = CheckType(
    "sql", SqlOptions, build_sql, "your own query: one number, or rows with a value column"
)
