"""Builds the configured notifiers and liveness pingers from the settings and
the environment's secrets. A notifier exists only when its section is enabled
and its secret is set; otherwise it is simply absent from the registry (and
liveness is a no-op object), so callers never branch on `enabled`."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from alerts.base import Notifier
from alerts.config import Secrets
from alerts.google_chat import GoogleChatNotifier
from alerts.liveness import (
    BackgroundLiveness,
    Heartbeat,
    HttpLiveness,
    NullHeartbeat,
    NullLiveness,
)
from alerts.pagerduty import PagerDutyNotifier
from alerts.slack import SlackNotifier

if TYPE_CHECKING:
    from monitor.settings import Settings

Verify = ssl.SSLContext | bool
Builder = Callable[["Settings", Secrets, Verify], Notifier | None]


def _pagerduty(settings: Settings, secrets: Secrets, verify: Verify) -> Notifier | None:
    pd = settings.pagerduty
    if not (pd.enabled and secrets.pagerduty_routing_key):
        return None
    return PagerDutyNotifier(
        secrets.pagerduty_routing_key, events_url=pd.events_url, source=pd.source,
        component=pd.component, group=pd.group, dashboard_url=pd.dashboard_url,
        timeout=pd.client_timeout_seconds, max_attempts=pd.max_attempts, verify=verify,
    )


def _slack(settings: Settings, secrets: Secrets, verify: Verify) -> Notifier | None:
    if not (settings.slack.enabled and secrets.slack_webhook_url):
        return None
    return SlackNotifier(secrets.slack_webhook_url, timeout=settings.slack.timeout_seconds,
                         verify=verify)


def _google_chat(settings: Settings, secrets: Secrets, verify: Verify) -> Notifier | None:
    gc = settings.google_chat
    if not (gc.enabled and secrets.google_chat_webhook_url):
        return None
    return GoogleChatNotifier(secrets.google_chat_webhook_url, timeout=gc.timeout_seconds,
                              verify=verify)


# The explicit registry: notifier name -> builder. Chat notifiers are the ones
# whose name is in CHAT.
NOTIFIERS: dict[str, Builder] = {
    "pagerduty": _pagerduty,
    "slack": _slack,
    "google_chat": _google_chat,
}
CHAT = ("slack", "google_chat")


def build_notifiers(settings: Settings, secrets: Secrets,
                    verify: Verify = True) -> dict[str, Notifier]:
    """Only the configured notifiers, by name. `verify` is for tests (a CA)."""
    built = {name: build(settings, secrets, verify) for name, build in NOTIFIERS.items()}
    return {name: n for name, n in built.items() if n is not None}


def build_liveness(settings: Settings, secrets: Secrets,
                   verify: Verify = True) -> BackgroundLiveness | NullLiveness:
    """Pings sent from a worker thread; `close()` sends what is queued."""
    if not (settings.liveness.enabled and secrets.ping_url):
        return NullLiveness()
    return BackgroundLiveness(HttpLiveness(
        secrets.ping_url, timeout=settings.liveness.timeout_seconds, verify=verify))


def build_heartbeat(settings: Settings, secrets: Secrets,
                    verify: Verify = True) -> Heartbeat | NullHeartbeat:
    if not (settings.liveness.enabled and secrets.heartbeat_url):
        return NullHeartbeat()
    return Heartbeat(secrets.heartbeat_url, timeout=settings.liveness.timeout_seconds,
                     verify=verify)


def close_all(notifiers: dict[str, Notifier]) -> None:
    for notifier in notifiers.values():
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
