"""User-defined SQL checks, and the machinery the built-in billing checks share.

A query returns either one number, or rows with a `value` column whose other
columns become tags (`SELECT plan AS plan, COUNT(*) AS value ... GROUP BY plan`),
or exactly the columns `sample_id` and `value`: one row per sample id, at most
:sample_limit, each carrying the total (`COUNT(*) OVER ()`), no rows meaning 0.
That counts and samples in one pass, so no `sample_query` is needed (the
built-in billing checks do this; docs/benchmarks.md).
Queries run read-only, rolled back, under the check's deadline. Parameters
the query may use: see `PARAMETERS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Date, DateTime, Engine, Integer, String, TextClause, bindparam, text

from checks.base import CheckOptions, CheckType, Services
from checks.deadline import database_deadline
from monitor.types import CheckContext, Measurement

# The same pattern SQLAlchemy's text() uses to find bind parameters.
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")
_METRIC = re.compile(r"^[a-z][a-z0-9_.]*$")

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
        return None if v is None else check_parameters(v)

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
        if v is not None and not _METRIC.match(v):
            raise ValueError(f"metric {v!r} must match {_METRIC.pattern}")
        return v


def _number(value: Any, where: str) -> float:
    if value is None:  # SUM() over no rows
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} returned {type(value).__name__}, not a number") from None


class SqlCheck:
    """Runs one counting query (and, when something is wrong, a capped sample)."""

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
        self._query = compile_query(query)
        self._sample = compile_query(sample_query) if sample_query else None

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        params = parameters(ctx)
        limit = max(1, ctx.sample_limit)
        with self._engine.connect() as conn, database_deadline(conn, ctx.deadline):
            result = conn.execute(self._query, params)
            columns = list(result.keys())
            if sorted(c.lower() for c in columns) == ["sample_id", "value"]:
                rows = result.fetchmany(limit)
                measurements = self._counted_samples(columns, rows, ctx.sample_limit)
            else:
                measurements = self._measurements(columns, result.fetchmany(1000))
            if self._sample is not None and any(m.value for m in measurements):
                # fetchmany(0) would fetch everything; the query is bound >= 1.
                ids = conn.execute(self._sample, params).scalars().fetchmany(limit)
                samples = tuple(str(i) for i in ids[: ctx.sample_limit])
                measurements = [
                    Measurement(m.name, m.value, m.tags, samples) for m in measurements
                ]
            conn.rollback()
        return measurements

    def _counted_samples(
        self, columns: list[str], rows: Sequence[Any], limit: int
    ) -> list[Measurement]:
        lowered = [c.lower() for c in columns]
        vi, si = lowered.index("value"), lowered.index("sample_id")
        if not rows:
            return [Measurement(self.metric, 0.0)]
        samples = tuple(str(row[si]) for row in rows[:limit])
        return [Measurement(self.metric, _number(rows[0][vi], f"check {self.name}"), (), samples)]

    def _measurements(self, columns: list[str], rows: Sequence[Any]) -> list[Measurement]:
        if len(columns) == 1:
            value = rows[0][0] if rows else 0
            return [Measurement(self.metric, _number(value, f"check {self.name}"))]
        lowered = [c.lower() for c in columns]
        if "value" not in lowered:
            raise ValueError(
                f"check {self.name}: a query with several columns needs one named 'value' "
                f"(got {', '.join(columns)})"
            )
        vi = lowered.index("value")
        out = []
        for row in rows:
            tags = tuple(f"{c}:{row[i]}" for i, c in enumerate(lowered) if i != vi)
            out.append(Measurement(self.metric, _number(row[vi], f"check {self.name}"), tags))
        return out


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
