"""The state store as `status` and `silence` need it: reachable, or exit 69
with a message that names the store (password hidden) and why."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from billing_monitor.alerting.runtime import (
    Alerting,
    AlertingUnavailable,
    unavailable_message,
    unwritable_message,
)
from billing_monitor.assembly import open_alerting
from billing_monitor.commands.errors import Unavailable
from billing_monitor.logs import describe_error
from billing_monitor.settings.model import Settings


def require_alerting(settings: Settings, env: Mapping[str, str]) -> Alerting:
    """The state store must be reachable: without it nothing can be shown."""
    alerting = open_alerting(settings, env)
    if isinstance(alerting, AlertingUnavailable):
        raise Unavailable(unavailable_message(settings.state.url, alerting.reason))
    return alerting


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """A store that refuses a read or a write is a peer that failed (69), not a bug."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise Unavailable(unwritable_message(settings.state.url, describe_error(exc))) from None
