from __future__ import annotations

import tomllib

import pytest
from pydantic import TypeAdapter, ValidationError

from billing_monitor.alerts.receivers import LEGACY, Receiver
from billing_monitor.alerts.routing import (
    CheckFacts,
    Route,
    RoutingSection,
    build_table,
    explain,
    problems,
    table_lines,
)
from billing_monitor.settings.model import Settings

CONFIG = """
[receivers.payments_oncall]
kind = "pagerduty"
secret_env = "PAGERDUTY_PAYMENTS_KEY"
[receivers.invoicing_chat]
kind = "teams"
secret_env = "TEAMS_INVOICING_URL"
[receivers.finance]
kind = "email"
secret_env = "SMTP_PASSWORD"
host = "smtp.example.com"
username = "monitor"
sender = "monitor@example.com"
to = ["finance@example.com"]

[[routes]]
name = "payments criticals"
checks = ["failed_charges", "payment_failure_rate"]
severities = ["critical"]
receivers = ["payments_oncall"]
continue = true
[[routes]]
tags = ["team:finance"]
receivers = ["finance"]
[[routes]]
types = ["unbilled_orders"]
severities = ["warning", "degraded"]
receivers = ["invoicing_chat"]
[[routes]]
severities = ["critical"]
receivers = ["payments_oncall", "invoicing_chat"]
"""
RECEIVERS: TypeAdapter[dict[str, Receiver]] = TypeAdapter(dict[str, Receiver])
CHECKS = {
    "failed_charges": CheckFacts("failed_charges", "failed_charges", ("team:finance",)),
    "payment_failure_rate": CheckFacts("payment_failure_rate", "payment_failure_rate"),
    "unbilled_orders": CheckFacts("unbilled_orders", "unbilled_orders"),
    "refunds": CheckFacts("refunds", "sql"),
}


def load(text: str = CONFIG):
    data = tomllib.loads(text)
    receivers = RECEIVERS.validate_python(data.get("receivers", {}))
    routes = TypeAdapter(list[Route]).validate_python(data.get("routes", []))
    section = RoutingSection(**data.get("routing", {}))
    return receivers, routes, section


def table(legacy=("pagerduty", "slack")):
    receivers, routes, section = load()
    kinds = {**{n: r.kind for n, r in receivers.items()}, **{n: n for n in LEGACY}}
    return build_table(routes, section, kinds, legacy)


@pytest.mark.parametrize(("check", "severity", "expected", "matched"), [
    # continue = true: the payments route and then the finance route
    ("failed_charges", "critical", ("payments_oncall", "finance"), (1, 2)),
    ("failed_charges", "warning", ("finance",), (2,)),
    # continue = true and no later route but the catch-all criticals
    ("payment_failure_rate", "critical", ("payments_oncall", "invoicing_chat"), (1, 4)),
    ("unbilled_orders", "warning", ("invoicing_chat",), (3,)),
    ("unbilled_orders", "degraded", ("invoicing_chat",), (3,)),
    ("unbilled_orders", "critical", ("payments_oncall", "invoicing_chat"), (4,)),
    # nothing matches: the default route, the old channels that are set
    ("refunds", "warning", ("pagerduty", "slack"), ()),
    ("payment_failure_rate", "degraded", ("pagerduty", "slack"), ()),
])
def test_first_match_wins_unless_continue(check, severity, expected, matched):
    res = table().route(CHECKS[check], severity)
    assert (res.receivers, res.matched) == (expected, matched)


def test_an_old_configuration_routes_everything_to_the_old_channels():
    t = build_table([], RoutingSection(), {}, ["pagerduty", "google_chat"])
    for severity in ("critical", "warning", "degraded"):
        assert t.route(CHECKS["refunds"], severity).receivers == ("pagerduty", "google_chat")


def test_explicit_default_replaces_the_old_channels():
    _, routes, _ = load()
    t = build_table(routes, RoutingSection(default=("finance",)), {}, ["pagerduty"])
    assert t.route(CHECKS["refunds"], "warning").receivers == ("finance",)


def test_unknown_and_unreferenced_receivers_are_errors_naming_where():
    text = CONFIG.replace('receivers = ["finance"]', 'receivers = ["finanse"]')
    receivers, routes, section = load(text)
    out = problems(routes, section, receivers, LEGACY, CHECKS, "/etc/bm.toml")
    assert out == [
        "/etc/bm.toml: routes.1.receivers (route #2): unknown receiver 'finanse' (receivers: "
        "payments_oncall, invoicing_chat, finance, pagerduty, slack, google_chat)",
        "/etc/bm.toml: receivers.finance: referenced by no route (name it in a [[routes]] "
        "receivers list or in [routing] default)",
    ]


def test_unknown_check_type_and_default_receiver_are_errors():
    text = CONFIG.replace('types = ["unbilled_orders"]', 'types = ["unbiled"]').replace(
        'checks = ["failed_charges", ', 'checks = ["failed_charge", ') + \
        '\n[routing]\ndefault = ["nobody"]\n'
    receivers, routes, section = load(text)
    out = problems(routes, section, receivers, LEGACY, CHECKS, "f.toml")
    assert "f.toml: routes.0.checks (route #1): unknown check 'failed_charge'" in out
    assert "f.toml: routes.2.types (route #3): no configured check has type 'unbiled'" in out
    assert any(p.startswith("f.toml: routing.default: unknown receiver 'nobody'") for p in out)


def test_a_valid_configuration_has_no_problems():
    receivers, routes, section = load()
    assert problems(routes, section, receivers, LEGACY, CHECKS, "f") == []


@pytest.mark.parametrize(("patch", "error"), [
    ({"kind": "sms"}, "does not match any of the expected tags"),
    ({"secret_env": "lower"}, "must name an environment variable"),
    ({"url": "http://x"}, "must be an https:// URL"),
    ({"routing_key": "abc"}, "Extra inputs are not permitted"),
])
def test_bad_receivers_are_refused(patch, error):
    base = {"kind": "webhook", "secret_env": "HOOK_KEY", "url": "https://hooks.example.com/a"}
    with pytest.raises(ValidationError, match=error):
        RECEIVERS.validate_python({"hook": {**base, **patch}})


@pytest.mark.parametrize(("name", "error"), [("slack", "is the built-in channel"),
                                             ("Payments", "a-z, 0-9, _")])
def test_legacy_and_bad_receiver_names_are_refused(name, error):
    with pytest.raises(ValidationError, match=error):
        Settings.model_validate({"receivers": {name: {"kind": "slack", "secret_env": "X_URL"}}})


def test_bad_severity_in_a_route_is_refused():
    with pytest.raises(ValidationError, match="severities"):
        Route(receivers=("a",), severities=("crit",))  # type: ignore[arg-type]


def test_table_and_explanation():
    lines = table_lines(table())
    assert lines[0].split() == ["#", "name", "checks", "types", "tags", "severities",
                                "receivers", "continue"]
    assert lines[1].startswith("1  payments criticals  failed_charges,payment_failure_rate")
    assert lines[1].split()[-3:] == ["payments_oncall", "(pagerduty)", "yes"]
    assert lines[-1].split()[:2] == ["*", "default"]
    assert lines[-1].split()[-5:] == ["pagerduty", "(pagerduty),", "slack", "(slack)", "-"]
    assert explain(table(), CHECKS["failed_charges"], "critical") == [
        "failed_charges (type failed_charges) at critical: route #1 (payments criticals), #2",
        "  -> payments_oncall (pagerduty), finance (email)",
    ]
    assert explain(build_table([], RoutingSection(), {}, []), CHECKS["refunds"], "warning")[1] \
        == "  -> nowhere (no receiver configured: held)"
