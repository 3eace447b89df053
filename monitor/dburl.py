"""A database URL as a settings type: parsed by SQLAlchemy at start-up, never
echoed in an error (it may hold a password)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def is_database_url(value: str) -> bool:
    try:
        make_url(value)
    except ArgumentError:
        return False
    return True


def _checked(value: str) -> str:
    if not is_database_url(value):
        raise ValueError("not a database URL (expected e.g. postgresql+psycopg://host/db "
                         "or sqlite:///file.db)")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_checked)]
