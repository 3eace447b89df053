"""Receivers: named destinations of one kind, as configured in
`[receivers.NAME]`. A receiver's secret (routing key, webhook URL, SMTP
password, signing key) never lives in the file: `secret_env` names the
environment variable that holds it, and under systemd the credential
`secret_credential` (default: the variable's name in lower case, as for the
built-in secrets) fills that variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
CREDENTIAL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
RECEIVER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# The single-channel variables of old (PAGERDUTY_ROUTING_KEY, SLACK_WEBHOOK_URL,
# GOOGLE_CHAT_WEBHOOK_URL) are receivers with these names; a [receivers] table
# cannot take them.
LEGACY = ("pagerduty", "slack", "google_chat")


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_env: str
    secret_credential: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("secret_env")
    @classmethod
    def _env(cls, v: str) -> str:
        if not ENV_NAME.match(v):
            raise ValueError("must name an environment variable: A-Z, 0-9, _ (a letter first)")
        return v

    @field_validator("secret_credential")
    @classmethod
    def _credential(cls, v: str | None) -> str | None:
        if v is not None and not CREDENTIAL_NAME.match(v):
            raise ValueError("must be a systemd credential name: a-z, 0-9, _ . -")
        return v

    @property
    def credential(self) -> str:
        return self.secret_credential or self.secret_env.lower()

    def where(self) -> str:
        """Where it sends, for `validate` and the routing table: never the secret."""
        return f"secret from ${self.secret_env}"


def _https(v: str) -> str:
    if not v.startswith("https://") or len(v) <= len("https://"):
        raise ValueError(f"must be an https:// URL (got {v!r})")
    return v.rstrip("/")


class PagerDutyReceiver(_Receiver):
    """Secret: an Events API v2 integration key (one PagerDuty service)."""

    kind: Literal["pagerduty"]
    events_url: str = "https://events.pagerduty.com"
    max_attempts: int = Field(default=2, ge=1, le=5)

    @field_validator("events_url")
    @classmethod
    def _events(cls, v: str) -> str:
        return _https(v)


class SlackReceiver(_Receiver):
    """Secret: the incoming webhook URL (one channel)."""

    kind: Literal["slack"]


class GoogleChatReceiver(_Receiver):
    """Secret: the space's webhook URL; one thread per incident."""

    kind: Literal["google_chat"]


class TeamsReceiver(_Receiver):
    """Secret: the Workflows webhook URL ("When a Teams webhook request is received")."""

    kind: Literal["teams"]


class EmailReceiver(_Receiver):
    """Secret: the SMTP password. STARTTLS is required (port 587, submission)."""

    kind: Literal["email"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=320)
    sender: str = Field(min_length=3, max_length=320)
    to: tuple[str, ...] = Field(min_length=1, max_length=50)

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for address in (v,) if isinstance(v, str) else v:
            if address.count("@") != 1 or any(c in address for c in " <>\r\n,;"):
                raise ValueError(f"not a plain e-mail address: {address!r}")
        return v

    def where(self) -> str:
        return f"smtp://{self.host}:{self.port} to {', '.join(self.to)} " \
               f"(password from ${self.secret_env})"


class WebhookReceiver(_Receiver):
    """Secret: the HMAC-SHA256 signing key. The URL is not a secret."""

    kind: Literal["webhook"]
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _https(v)

    def where(self) -> str:
        return f"{self.url} (signed, key from ${self.secret_env})"


Receiver = Annotated[
    PagerDutyReceiver | SlackReceiver | GoogleChatReceiver | TeamsReceiver | EmailReceiver
    | WebhookReceiver,
    Field(discriminator="kind"),
]


def secret_of(receiver: _Receiver, env: Mapping[str, str]) -> str | None:
    """The receiver's secret from the environment (credentials were loaded
    into it at start-up), stripped; None when unset."""
    value = env.get(receiver.secret_env, "").strip()
    return value or None
