"""`billing-monitor test-alert pagerduty|chat|liveness|statsd`: send a clearly
labelled test event through one configured sink, then resolve it.

The dedup key `{service}/test-alert/{uuid4}` cannot collide with a real alert
(check names have no '-') nor with an earlier test. Prints what it did, never
a secret. Exit 0 when the peer accepted everything, 69 when it failed, 78 when
the sink is not configured."""

from __future__ import annotations

import argparse
import socket
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from billing_monitor.alerts.config import (
    GOOGLE_CHAT_URL_ENV,
    HEARTBEAT_URL_ENV,
    PING_URL_ENV,
    ROUTING_KEY_ENV,
    SLACK_URL_ENV,
    Secrets,
)
from billing_monitor.alerts.contract import Notification, Notifier, SinkError
from billing_monitor.alerts.notifiers import (
    CHAT,
    Verify,
    build_heartbeat,
    build_liveness,
    build_notifiers,
    close_all,
)
from billing_monitor.alerts.receiver_notifiers import build_receivers
from billing_monitor.alerts.statsd import make_client
from billing_monitor.assembly import base_tags
from billing_monitor.commands.errors import ExitCode
from billing_monitor.settings.model import Settings

TARGETS = ("pagerduty", "chat", "liveness", "statsd", "receivers")
LABEL = "TEST ONLY — please ignore"
NAMES = {"pagerduty": "PagerDuty", "slack": "Slack", "google_chat": "Google Chat"}


def test_notification(settings: Settings, now: datetime) -> Notification:
    service = settings.monitor.service
    source = settings.pagerduty.source or socket.gethostname()
    return Notification(
        action="trigger", reason="test", dedup_key=f"{service}/test-alert/{uuid.uuid4()}",
        check="test_alert", severity="info", source=source, occurred_at=now,
        summary=f"{LABEL}: billing-monitor test alert from {source} ({settings.monitor.env})",
        custom_details={"test": True, "sent_by": "billing-monitor test-alert",
                        "env": settings.monitor.env},
    )


class TestAlert:
    """One run of the command: `out` gets the report, `verify` is for test CAs."""

    __test__ = False  # not a pytest class

    def __init__(self, settings: Settings, secrets: Secrets, out: TextIO, *,
                 verify: Verify = True, now: Callable[[], datetime] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.settings, self.secrets, self.out, self.verify = settings, secrets, out, verify
        self.env = env or {}
        self.now = now or (lambda: datetime.now(UTC))

    def say(self, line: str) -> None:
        print(line, file=self.out)

    def run(self, target: str) -> int:
        handlers = {"pagerduty": self.pagerduty, "chat": self.chat,
                    "liveness": self.liveness, "statsd": self.statsd,
                    "receivers": self.receivers}
        return handlers[target]()

    def _send(self, notifiers: dict[str, Notifier]) -> int:
        trigger = test_notification(self.settings, self.now())
        resolve = replace(trigger, action="resolve", reason="resolve", occurred_at=self.now())
        failed = False
        for name, notifier in notifiers.items():
            label = NAMES.get(name, name)
            try:
                notifier.deliver(trigger)
                self.say(f"{label}: sent test event (dedup key {trigger.dedup_key}, "
                         "severity info)")
            except SinkError as exc:
                failed = True
                kind = "permanent: fix the configuration" if exc.permanent else "transient"
                self.say(f"{label}: FAILED to send the test event ({kind}): {exc}")
                continue
            try:
                notifier.deliver(resolve)
                self.say(f"{label}: resolved it")
            except SinkError as exc:
                failed = True
                self.say(f"{label}: FAILED to resolve the test event: {exc}; it stays open "
                         f"until resolved by hand (dedup key {trigger.dedup_key})")
        close_all(notifiers)
        return ExitCode.UNAVAILABLE if failed else ExitCode.OK

    def _not_configured(self, what: str, how: str) -> int:
        print(f"billing-monitor: {what} is not configured: {how}", file=sys.stderr)
        return ExitCode.CONFIG

    def pagerduty(self) -> int:
        notifiers = build_notifiers(self.settings, self.secrets, self.verify)
        if "pagerduty" not in notifiers:
            return self._not_configured(
                "PagerDuty", f"set {ROUTING_KEY_ENV} (and keep [pagerduty] enabled)")
        close_all({k: v for k, v in notifiers.items() if k != "pagerduty"})
        self.say(f"PagerDuty: events API {self.settings.pagerduty.events_url}")
        return self._send({"pagerduty": notifiers["pagerduty"]})

    def chat(self) -> int:
        notifiers = build_notifiers(self.settings, self.secrets, self.verify)
        chats = {k: v for k, v in notifiers.items() if k in CHAT}
        close_all({k: v for k, v in notifiers.items() if k not in CHAT})
        if not chats:
            return self._not_configured(
                "chat", f"set {SLACK_URL_ENV} and/or {GOOGLE_CHAT_URL_ENV}")
        return self._send(chats)

    def receivers(self) -> int:
        """Every [receivers.NAME] whose secret is set, each in turn."""
        built = build_receivers(self.settings.receivers, self.env, self.verify)
        if not built:
            return self._not_configured("receivers", "add [receivers.NAME] tables and set "
                                        "their secret_env variables")
        return self._send(built)

    def liveness(self) -> int:
        live = build_liveness(self.settings, self.secrets, self.verify)
        beat = build_heartbeat(self.settings, self.secrets, self.verify)
        if not (self.secrets.ping_url or self.secrets.heartbeat_url) or \
                not self.settings.liveness.enabled:
            return self._not_configured(
                "liveness", f"set {PING_URL_ENV} and/or {HEARTBEAT_URL_ENV}")
        ok = True
        if self.secrets.ping_url:
            rid = str(uuid.uuid4())
            started = live.ping("start", rid)
            done = started and live.ping("success", rid, f"{LABEL}: billing-monitor test-alert")
            ok = ok and done
            self.say(f"liveness: start and success pings with rid {rid}: "
                     f"{'accepted' if done else 'FAILED (see the warning above)'}")
            self.say("liveness: no /fail ping is sent: it would alert whoever watches the check")
        if self.secrets.heartbeat_url:
            beat_ok = beat.heartbeat(f"{LABEL}: billing-monitor test-alert")
            ok = ok and beat_ok
            self.say(f"heartbeat: {'accepted' if beat_ok else 'FAILED (see the warning above)'}")
        live.close()
        beat.close()
        return ExitCode.OK if ok else ExitCode.UNAVAILABLE

    def statsd(self) -> int:
        s = self.settings.statsd
        if not s.enabled:
            return self._not_configured("DogStatsD", "[statsd] enabled = false")
        metric = f"{s.namespace}test_alert"
        tags = [*base_tags(self.settings), *s.tags, "test:true"]
        try:
            client = make_client(s.host, s.port, s.socket_path)
            client.gauge(metric, 1, tags=tags)
            client.service_check(metric, 0, tags=tags, message=LABEL)
            client.close_socket()
        except OSError as exc:
            self.say(f"DogStatsD: FAILED: {exc.strerror or exc}")
            return ExitCode.UNAVAILABLE
        where = s.socket_path or f"{s.host}:{s.port}"
        self.say(f"DogStatsD: sent gauge {metric}=1 and service check {metric} OK "
                 f"(tags {','.join(tags)}) to {where}")
        self.say("DogStatsD: datagrams are fire and forget; look for the metric in Datadog "
                 "to confirm that the agent received it")
        return ExitCode.OK


def cmd_test_alert(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    return TestAlert(settings, Secrets.from_env(env), sys.stdout, env=env).run(args.target)
