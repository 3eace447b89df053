"""Builds the configured notifiers and liveness pingers from the settings and
the environment's secrets. A notifier exists only when its section is enabled
and its secret is set; otherwise it is simply absent from the registry (and
liveness is a no-op object), so callers never branch on `enabled`."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from billing_monitor.alerts.config import (
    GOOGLE_CHAT_URL_ENV,
    HEARTBEAT_URL_ENV,
    PING_URL_ENV,
    ROUTING_KEY_ENV,
    SLACK_URL_ENV,
    NotifierSettings,
    Secrets,
)
from billing_monitor.alerts.contract import Notifier, NullLiveness
from billing_monitor.alerts.google_chat import GoogleChatNotifier
from billing_monitor.alerts.liveness import (
    BackgroundLiveness,
    Heartbeat,
    HttpLiveness,
    NullHeartbeat,
)
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from billing_monitor.alerts.slack import SlackNotifier

Verify = ssl.SSLContext | bool
Builder = Callable[[NotifierSettings, Secrets, Verify], Notifier | None]


def _pagerduty(settings: NotifierSettings, secrets: Secrets, verify: Verify) -> Notifier | None:
    pd = settings.pagerduty
    if not (pd.enabled and secrets.pagerduty_routing_key):
        return None
    return PagerDutyNotifier(
        secrets.pagerduty_routing_key, events_url=pd.events_url, source=pd.source,
        component=pd.component, group=pd.group, dashboard_url=pd.dashboard_url,
        timeout=pd.client_timeout_seconds, max_attempts=pd.max_attempts, verify=verify,
    )


def _slack(settings: NotifierSettings, secrets: Secrets, verify: Verify) -> Notifier | None:
    if not (settings.slack.enabled and secrets.slack_webhook_url):
        return None
    return SlackNotifier(secrets.slack_webhook_url, timeout=settings.slack.timeout_seconds,
                         verify=verify)


def _google_chat(settings: NotifierSettings, secrets: Secrets, verify: Verify) -> Notifier | None:
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


def build_notifiers(settings: NotifierSettings, secrets: Secrets,
                    verify: Verify = True) -> dict[str, Notifier]:
    """Only the configured notifiers, by name. `verify` is for tests (a CA)."""
    built = {name: build(settings, secrets, verify) for name, build in NOTIFIERS.items()}
    return {name: n for name, n in built.items() if n is not None}


def build_liveness(settings: NotifierSettings, secrets: Secrets,
                   verify: Verify = True) -> BackgroundLiveness | NullLiveness:
    """Pings sent from a worker thread; `close()` sends what is queued."""
    if not (settings.liveness.enabled and secrets.ping_url):
        return NullLiveness()
    return BackgroundLiveness(HttpLiveness(
        secrets.ping_url, timeout=settings.liveness.timeout_seconds, verify=verify))


def build_heartbeat(settings: NotifierSettings, secrets: Secrets,
                    verify: Verify = True) -> Heartbeat | NullHeartbeat:
    if not (settings.liveness.enabled and secrets.heartbeat_url):
        return NullHeartbeat()
    return Heartbeat(secrets.heartbeat_url, timeout=settings.liveness.timeout_seconds,
                     verify=verify)


def notifier_summary(settings: NotifierSettings, secrets: Secrets) -> dict[str, str]:
    """Where each notifier and pinger sends, for `validate`: never a secret,
    only whether it is set (and the PagerDuty events URL, which is public)."""
    pd = settings.pagerduty
    rows = {
        "pagerduty": (pd.enabled, secrets.pagerduty_routing_key, f"{pd.events_url} "
                      f"(routing key from ${ROUTING_KEY_ENV})"),
        "slack": (settings.slack.enabled, secrets.slack_webhook_url,
                  f"webhook from ${SLACK_URL_ENV}"),
        "google_chat": (settings.google_chat.enabled, secrets.google_chat_webhook_url,
                        f"webhook from ${GOOGLE_CHAT_URL_ENV}"),
        "liveness": (settings.liveness.enabled, secrets.ping_url, f"pings ${PING_URL_ENV}"),
        "heartbeat": (settings.liveness.enabled, secrets.heartbeat_url,
                      f"pings ${HEARTBEAT_URL_ENV}"),
    }
    return {name: where if enabled and secret else
            ("disabled" if not enabled else "not configured")
            for name, (enabled, secret, where) in rows.items()}


def close_all(notifiers: dict[str, Notifier]) -> None:
    for notifier in notifiers.values():
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
