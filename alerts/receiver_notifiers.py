"""Builds one notifier per configured receiver (`[receivers.NAME]`), each
registered under the receiver's name: that name is its delivery lane in the
outbox. The explicit registry maps a receiver's kind to its builder. A
receiver whose secret is not set is absent here (its alerts wait in the
outbox for a process that has it); `validate` and `run` refuse to start
without it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from billing_monitor.alerts.contract import Notifier
from billing_monitor.alerts.google_chat import GoogleChatNotifier
from billing_monitor.alerts.pagerduty import PagerDutyNotifier
from billing_monitor.alerts.receivers import (
    EmailReceiver,
    PagerDutyReceiver,
    Receiver,
    WebhookReceiver,
    secret_of,
)
from billing_monitor.alerts.signed_webhook import SignedWebhookNotifier
from billing_monitor.alerts.slack import SlackNotifier
from billing_monitor.alerts.smtp_email import EmailNotifier
from billing_monitor.alerts.teams import TeamsNotifier

Verify = ssl.SSLContext | bool
Builder = Callable[[Receiver, str, Verify], Notifier]


def _pagerduty(r: Receiver, secret: str, verify: Verify) -> Notifier:
    assert isinstance(r, PagerDutyReceiver)
    return PagerDutyNotifier(secret, events_url=r.events_url, timeout=r.timeout_seconds,
                             max_attempts=r.max_attempts, verify=verify)


def _slack(r: Receiver, secret: str, verify: Verify) -> Notifier:
    return SlackNotifier(secret, timeout=r.timeout_seconds, verify=verify)


def _google_chat(r: Receiver, secret: str, verify: Verify) -> Notifier:
    return GoogleChatNotifier(secret, timeout=r.timeout_seconds, verify=verify)


def _teams(r: Receiver, secret: str, verify: Verify) -> Notifier:
    return TeamsNotifier(secret, timeout=r.timeout_seconds, verify=verify)


def _email(r: Receiver, secret: str, verify: Verify) -> Notifier:
    assert isinstance(r, EmailReceiver)
    tls = verify if isinstance(verify, ssl.SSLContext) else None
    return EmailNotifier(r.host, r.port, r.username, secret, r.sender, r.to,
                         timeout=r.timeout_seconds, tls=tls)


def _webhook(r: Receiver, secret: str, verify: Verify) -> Notifier:
    assert isinstance(r, WebhookReceiver)
    return SignedWebhookNotifier(r.url, secret, timeout=r.timeout_seconds,
                                 clock=lambda: datetime.now(UTC), verify=verify)


RECEIVER_KINDS: dict[str, Builder] = {
    "pagerduty": _pagerduty,
    "slack": _slack,
    "google_chat": _google_chat,
    "teams": _teams,
    "email": _email,
    "webhook": _webhook,
}


def build_receivers(receivers: Mapping[str, Receiver], env: Mapping[str, str],
                    verify: Verify = True) -> dict[str, Notifier]:
    """The receivers whose secret is set, by name. `verify` is for tests (a CA)."""
    built: dict[str, Notifier] = {}
    for name, receiver in receivers.items():
        secret = secret_of(receiver, env)
        if secret is None:
            continue
        notifier = RECEIVER_KINDS[receiver.kind](receiver, secret, verify)
        notifier.name = name
        built[name] = notifier
    return built


def receiver_summary(receivers: Mapping[str, Receiver],
                     env: Mapping[str, str]) -> dict[str, str]:
    """Where each receiver sends, for `validate`: never the secret."""
    return {f"receiver {name}": f"{r.kind}: {r.where()}" + (
        "" if secret_of(r, env) else f" (NOT SET: ${r.secret_env})")
        for name, r in receivers.items()}
