"""The sources checks read (the billing database, Stripe) and how a check
says it could not reach one: the exception that stopped it carries
`unreachable = "database"` or `"stripe"`, set where the connection was
attempted, and the runner copies it into the result. The alert engine then
raises one "source down" incident per source instead of one "monitor
degraded" alert per check (README "One page when a source is down").

Only a failure to reach the source counts: a refused connection, a DNS or
TLS failure, a timeout while connecting, Stripe's network errors and 5xx
after retries. A query the database refuses, a bad key or a 4xx is the
check's own trouble and stays a per-check degraded alert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

Source = Literal["database", "stripe"]
SOURCES: tuple[Source, ...] = ("database", "stripe")


def mark_unreachable(exc: BaseException, source: Source) -> None:
    exc.unreachable = source  # type: ignore[attr-defined]


def unreachable_of(exc: BaseException) -> str | None:
    value = getattr(exc, "unreachable", None)
    return value if value in SOURCES else None


@contextmanager
def connected(engine: Engine) -> Iterator[Connection]:
    """engine.connect(), with a failure to connect marked as the database
    being unreachable (what the connection then does is the check's own)."""
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        mark_unreachable(exc, "database")
        raise
    with conn:
        yield conn
