"""Secrets from systemd credentials (LoadCredential=) into the environment
variables the product reads, and the list of values logs must never show.

Under systemd, `LoadCredential=stripe_api_key:/etc/billing-monitor/credentials/stripe_api_key`
puts the file, readable only by the service, in $CREDENTIALS_DIRECTORY. Each
credential is named after its variable, in lower case. A variable already set
in the environment wins, so a developer can still export one by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("billing_monitor.credentials")

SECRET_ENV = (
    "PAGERDUTY_ROUTING_KEY",
    "STRIPE_API_KEY",
    "SLACK_WEBHOOK_URL",
    "GOOGLE_CHAT_WEBHOOK_URL",
    "BILLING_MONITOR_DATABASE_URL",
    "BILLING_MONITOR_PING_URL",
    "BILLING_MONITOR_HEARTBEAT_URL",
    "BILLING_MONITOR_STATE_URL",  # a PostgreSQL state store's URL holds a password
    "BILLING_MONITOR_STATUS_TOKEN",  # who may read the status page (daemon/status_http.py)
)
# Shorter values would redact ordinary words; real secrets are far longer.
MIN_SECRET_LENGTH = 6


def load_credentials(env: MutableMapping[str, str],
                     extra: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Fill unset secret variables from $CREDENTIALS_DIRECTORY; returns the
    names loaded (never the values). `extra`: (variable, credential) pairs of
    the receivers' secrets, known once the configuration is read."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return []
    loaded = []
    pairs = [*((var, var.lower()) for var in SECRET_ENV), *extra]
    for var, credential in pairs:
        path = Path(directory) / credential
        if env.get(var) or not path.is_file():
            continue
        try:
            value = path.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("credential %s unreadable: %s", var.lower(), type(exc).__name__)
            continue
        if value:
            env[var] = value
            loaded.append(var)
    return loaded


def secret_values(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """Every secret value to scrub from output, with a database URL's password
    on its own too (drivers may echo parts of a URL). `extra`: the receivers'
    secret variables."""
    values = [env[v] for v in (*SECRET_ENV, *extra) if env.get(v)]
    for v in list(values):
        try:
            password = make_url(v).password
        except (ArgumentError, ValueError):
            continue
        if password:
            values.append(str(password))
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
