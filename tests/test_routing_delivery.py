"""Done means: a configuration with three receivers and four routes sends
critical, warning and degraded alerts exactly where the routes say, and each
resolve where its trigger went, proven against the peers: PagerDuty's Events
API, a Teams Workflows webhook and a real SMTP server with STARTTLS and AUTH.
The configuration is parsed as a file would be; the product is built by
assembly; the clock is injected."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from billing_monitor.alerting import outbox
from billing_monitor.assembly import build_alerting, build_all_notifiers
from billing_monitor.settings.load import parse_settings
from tests.alerting_support import Clock, result
from tests.peers.http_peers import Tls
from tests.peers.http_services import PagerDutyPeer
from tests.peers.smtp_peer import SmtpPeer
from tests.peers.teams_peer import TeamsPeer

PD_KEY = "R0utingKeyPaymentsOncall01234567"

CONFIG = """
[receivers.payments_oncall]
kind = "pagerduty"
secret_env = "PAGERDUTY_PAYMENTS_KEY"
events_url = "{pd_url}"
max_attempts = 1
[receivers.invoicing_teams]
kind = "teams"
secret_env = "TEAMS_INVOICING_URL"
[receivers.finance_email]
kind = "email"
secret_env = "SMTP_PASSWORD"
host = "127.0.0.1"
port = {smtp_port}
username = "monitor"
sender = "billing-monitor@example.com"
to = ["finance@example.com"]

[[routes]]
name = "payments criticals"
checks = ["failed_charges"]
severities = ["critical"]
receivers = ["payments_oncall"]
continue = true
[[routes]]
severities = ["critical"]
receivers = ["invoicing_teams"]
[[routes]]
tags = ["team:finance"]
severities = ["warning"]
receivers = ["finance_email"]
[[routes]]
severities = ["degraded"]
receivers = ["invoicing_teams"]

[routing]
default = ["finance_email"]

[checks.failed_charges]
[checks.failed_charges.thresholds]
warning = 0
critical = 10
[checks.unbilled_orders]
[checks.unbilled_orders.thresholds]
critical = 10
[checks.refunds]
type = "sql"
metric = "refunds"
tags = ["team:finance"]
query = "SELECT 1"
[checks.refunds.thresholds]
warning = 20
[checks.missing_billing_records]
[checks.missing_billing_records.thresholds]
critical = 0
"""


class Peers:
    def __init__(self, tls: Tls) -> None:
        self.pd, self.teams, self.smtp = PagerDutyPeer(tls), TeamsPeer(tls), SmtpPeer(tls)
        self.env = {"PAGERDUTY_PAYMENTS_KEY": PD_KEY, "TEAMS_INVOICING_URL":
                    self.teams.webhook_url, "SMTP_PASSWORD": self.smtp.password}

    def seen(self) -> dict[str, list[tuple[str, str]]]:
        """(dedup key, what) per receiver, in the order received."""
        return {
            "payments_oncall": [(e["dedup_key"], e["event_action"]) for e in self.pd.events],
            "invoicing_teams": [(c["body"][-1]["inlines"][0]["text"].split(" · ")[0]
                                 .removeprefix("dedup key "),
                                 c["body"][0]["inlines"][0]["text"].split(":")[0].split(" ", 1)[1])
                                for c in self.teams.cards()],
            "finance_email": [(str(m["X-Billing-Monitor-Dedup-Key"]),
                               m.get_content().splitlines()[0].split(":")[0].split(" ", 1)[1])
                              for m in self.smtp.messages],
        }

    def close(self) -> None:
        for peer in (self.pd, self.teams, self.smtp):
            peer.close()


@pytest.fixture
def peers(tls: Tls) -> Iterator[Peers]:
    p = Peers(tls)
    yield p
    p.close()


def settings_for(peers: Peers, tmp: Any) -> Any:
    text = CONFIG.format(pd_url=peers.pd.url, smtp_port=peers.smtp.port)
    raw = tomllib.loads(text)
    raw["state"] = {"url": f"sqlite:///{tmp / 'state.db'}"}
    return parse_settings(raw, "routing.toml", peers.env)


def test_three_receivers_four_routes_send_each_alert_where_the_routes_say(
        peers: Peers, tls: Tls, tmp_path: Any) -> None:
    settings = settings_for(peers, tmp_path)
    clock = Clock()
    notifiers = build_all_notifiers(settings, peers.env, verify=tls.client)
    assert sorted(notifiers) == ["finance_email", "invoicing_teams", "payments_oncall"]
    alerting = build_alerting(settings, notifiers, clock=clock, rand=lambda: 0.5)

    def run(values: dict[str, float | None]) -> None:
        for check, value in values.items():
            alerting.sink.emit(result(check, value, clock(), settings.checks[check]))
        report = alerting.dispatcher.dispatch()
        assert report.errors == [] and report.dead == 0
        clock.advance(minutes=5)

    run({"failed_charges": 25, "unbilled_orders": 25, "refunds": 30})
    for _ in range(3):  # degraded after three runs that could not run
        run({"missing_billing_records": None})
    run({"failed_charges": 0, "unbilled_orders": 0, "refunds": 0,
         "missing_billing_records": 0})

    week = "2026-W47"
    fc, uo = f"billing/failed_charges/{week}", f"billing/unbilled_orders/{week}"
    rf, deg = f"billing/refunds/{week}", "billing/missing_billing_records/degraded"
    assert peers.seen() == {
        # failed_charges critical: route 1 (continue) then route 2
        "payments_oncall": [(fc, "trigger"), (fc, "resolve")],
        "invoicing_teams": [(fc, "ALERT [critical]"), (uo, "ALERT [critical]"),
                            (deg, "MONITOR DEGRADED [warning]"),
                            (fc, "RESOLVED"), (uo, "RESOLVED"), (deg, "RESOLVED")],
        # refunds warning: route 3 (team:finance)
        "finance_email": [(rf, "ALERT [warning]"), (rf, "RESOLVED")],
    }
    (incident,) = peers.pd.incidents_for(fc)
    assert incident.status == "resolved"
    assert outbox.stats(alerting.store, clock()) == outbox.OutboxStats(0, 0.0, 0)
    for n in notifiers.values():
        getattr(n, "close", lambda: None)()


def test_the_default_route_takes_what_no_route_matches(peers: Peers, tls: Tls,
                                                      tmp_path: Any) -> None:
    settings = settings_for(peers, tmp_path)
    clock = Clock()
    alerting = build_alerting(settings, build_all_notifiers(settings, peers.env, tls.client),
                              clock=clock)
    # failed_charges at warning: no route (no finance tag): [routing] default, e-mail
    opts = settings.checks["failed_charges"]
    alerting.sink.emit(result("failed_charges", 3, clock(), opts))  # warning, no finance tag
    alerting.dispatcher.dispatch()
    assert [k for k, _ in peers.seen()["finance_email"]] == ["billing/failed_charges/2026-W47"]
    assert peers.seen()["payments_oncall"] == [] and peers.seen()["invoicing_teams"] == []
