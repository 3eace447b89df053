"""Settings sections for the notifiers ([pagerduty], [slack], [google_chat],
[liveness]) and the `Secrets` they need, read from the environment only.

Secrets never live in `Settings`: a settings dump, `validate --json` or an
error message cannot leak what the settings do not hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROUTING_KEY_ENV = "PAGERDUTY_ROUTING_KEY"
SLACK_URL_ENV = "SLACK_WEBHOOK_URL"
GOOGLE_CHAT_URL_ENV = "GOOGLE_CHAT_WEBHOOK_URL"
PING_URL_ENV = "BILLING_MONITOR_PING_URL"
HEARTBEAT_URL_ENV = "BILLING_MONITOR_HEARTBEAT_URL"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _https_url(v: str | None) -> str | None:
    if v is not None and not v.startswith(("https://", "http://")):
        raise ValueError("must be an http(s):// URL")
    return v


class PagerDutySection(_Section):
    """PagerDuty Events API v2. Enabled when PAGERDUTY_ROUTING_KEY is set."""

    enabled: bool = True
    # The EU service region is https://events.eu.pagerduty.com
    events_url: str = "https://events.pagerduty.com"
    source: str | None = Field(default=None, min_length=1, max_length=255)
    component: str | None = Field(default=None, min_length=1)
    group: str | None = Field(default=None, min_length=1)
    dashboard_url: str | None = None
    client_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # HTTP attempts per delivery (1 = no in-process retry); the outbox retries later.
    max_attempts: int = Field(default=2, ge=1, le=5)

    @field_validator("events_url")
    @classmethod
    def _events(cls, v: str) -> str:
        if not v.startswith("https://") or len(v) <= len("https://"):
            raise ValueError(
                f"must be an https:// URL (the PagerDuty client refuses http) (got {v!r})"
            )
        return v.rstrip("/")

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, v: str | None) -> str | None:
        return _https_url(v)


class ChatSection(_Section):
    """A chat webhook. Enabled when its URL is in the environment."""

    enabled: bool = True
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class SlackSection(ChatSection):
    pass


class GoogleChatSection(ChatSection):
    pass


class LivenessSection(_Section):
    """Healthchecks.io-style pings: short timeouts, never in the way of a check."""

    enabled: bool = True
    timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # How often the daemon pings BILLING_MONITOR_HEARTBEAT_URL.
    heartbeat_seconds: float = Field(default=60.0, ge=10, le=3600)


def _redacted(value: str | None) -> str:
    return "<unset>" if value is None else "<set>"


@dataclass(frozen=True)
class Secrets:
    """Credentials from the environment. `repr` never shows a value."""

    pagerduty_routing_key: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    google_chat_webhook_url: str | None = field(default=None, repr=False)
    ping_url: str | None = field(default=None, repr=False)
    heartbeat_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Secrets:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            pagerduty_routing_key=get(ROUTING_KEY_ENV),
            slack_webhook_url=get(SLACK_URL_ENV),
            google_chat_webhook_url=get(GOOGLE_CHAT_URL_ENV),
            ping_url=get(PING_URL_ENV),
            heartbeat_url=get(HEARTBEAT_URL_ENV),
        )

    def values(self) -> tuple[str, ...]:
        """Every secret that is set, for scrubbing text before it is shown."""
        return tuple(
            v for v in (self.pagerduty_routing_key, self.slack_webhook_url,
                        self.google_chat_webhook_url, self.ping_url, self.heartbeat_url) if v
        )

    def __repr__(self) -> str:
        return (f"Secrets(pagerduty={_redacted(self.pagerduty_routing_key)}, "
                f"slack={_redacted(self.slack_webhook_url)}, "
                f"google_chat={_redacted(self.google_chat_webhook_url)}, "
                f"ping={_redacted(self.ping_url)}, heartbeat={_redacted(self.heartbeat_url)})")


def _unsafe(value: str) -> bool:
    """Control characters or spaces: a CR/LF would split the HTTP request
    line (every delivery failing as if temporary); never a valid URL or key."""
    return any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value)


def _url_problem(value: str) -> str | None:
    if _unsafe(value):
        return "holds a space or control character (a pasted line break?)"
    if not value.startswith(("https://", "http://")):
        return "must be an http(s):// URL"
    try:
        host = urlsplit(value).hostname
    except ValueError:
        host = None
    return None if host else "must be an http(s):// URL with a host"


def env_problems(env: Mapping[str, str]) -> list[str]:
    """Malformed secret variables, named without their values. Leading and
    trailing white space (a credential file's final newline) is dropped, as
    `Secrets.from_env` does; anything else unsafe is an error."""
    problems = []
    for var in (SLACK_URL_ENV, GOOGLE_CHAT_URL_ENV, PING_URL_ENV, HEARTBEAT_URL_ENV):
        value = env.get(var, "").strip()
        problem = _url_problem(value) if value else None
        if problem:
            problems.append(f"environment: {var}: {problem}")
    key = env.get(ROUTING_KEY_ENV, "").strip()
    if key and (len(key) != 32 or not key.isascii() or not key.isalnum()):
        problems.append(f"environment: {ROUTING_KEY_ENV}: must be a 32-character "
                        "integration key (Events API v2)")
    return problems


class NotifierSettings(Protocol):
    """What the notifier builders read of the settings (the monitor's
    `Settings` has these sections): the alerts layer needs no more."""

    @property
    def pagerduty(self) -> PagerDutySection: ...

    @property
    def slack(self) -> SlackSection: ...

    @property
    def google_chat(self) -> GoogleChatSection: ...

    @property
    def liveness(self) -> LivenessSection: ...
