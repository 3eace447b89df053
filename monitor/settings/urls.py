"""A database URL as a settings type: parsed by SQLAlchemy at start-up, its
dialect and driver loaded (a typo in the driver is exit 78 at `validate`, not
exit 70 at the first check), never echoed in an error (it may hold a
password; only the driver name is shown)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# The billing database: the engines whose read-only sandbox this project
# builds and tests (README "A read-only SQL sandbox"). PostgreSQL only through
# psycopg 3, whose extended protocol refuses a multi-statement string.
BILLING_DRIVERS = frozenset({"sqlite+pysqlite", "postgresql+psycopg"})


def _control(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def is_database_url(value: str) -> bool:
    if _control(value):
        return False
    try:
        make_url(value)
    except ArgumentError:
        return False
    return True


def _parsed(value: str) -> URL:
    if not is_database_url(value):
        raise ValueError("not a database URL (expected e.g. postgresql+psycopg://host/db "
                         "or sqlite:///file.db)")
    return make_url(value)


def driver_name(url: URL) -> str:
    """backend+driver as SQLAlchemy resolves it (postgresql:// is psycopg)."""
    try:
        dialect = url.get_dialect()
    except ArgumentError:
        return url.drivername
    return f"{url.get_backend_name()}+{dialect.driver}"


def check_url(value: str) -> str:
    url = _parsed(value)
    try:
        dialect = url.get_dialect()
    except ArgumentError:  # NoSuchModuleError: no such dialect or driver
        raise ValueError(f"unknown database driver {url.drivername!r} (e.g. "
                         "postgresql+psycopg or sqlite)") from None
    try:
        dialect.import_dbapi()
    except ImportError:
        raise ValueError(f"the database driver {url.drivername!r} is not installed") from None
    return value


def check_billing_url(value: str) -> str:
    url = make_url(check_url(value))
    if driver_name(url) not in BILLING_DRIVERS:
        raise ValueError(f"the billing database must be PostgreSQL through psycopg 3 "
                         f"(postgresql+psycopg://) or SQLite, not {url.drivername!r}: only "
                         "those run checks in the read-only sandbox")
    return value


DatabaseUrl = Annotated[str, AfterValidator(check_url)]
BillingDatabaseUrl = Annotated[str, AfterValidator(check_billing_url)]
