from __future__ import annotations

import pytest

from billing_monitor.checks.templates import FIELDS, problems, render

VALUES = {"service": "billing", "check": "failed_charges", "severity": "critical",
          "period": "2026-W48", "values": "failed_charges=12 (CRIT 10)", "error": ""}


def test_fields_are_filled_in_and_braces_escaped():
    t = "{severity}: {service}/{check} ({period}) {values} {{not a field}}"
    assert problems(t, "checks.x.summary") == []
    assert render(t, VALUES) == ("critical: billing/failed_charges (2026-W48) "
                                 "failed_charges=12 (CRIT 10) {not a field}")


@pytest.mark.parametrize(("template", "error"), [
    ("{check.__class__.__mro__}", "unknown field {check.__class__.__mro__}"),
    ("{values[0]}", "unknown field {values[0]}"),
    ("{check!r}", "{check} takes no conversion or format spec"),
    ("{check:>999999999}", "{check} takes no conversion or format spec"),
    ("{check:{values}}", "{check} takes no conversion or format spec"),
    ("{0}", "unknown field {0}"),
    ("{}", "unknown field {}"),
    ("{nope}", "unknown field {nope}"),
    ("unbalanced {", "Single '{' encountered"),
    ("x" * 1025, "longer than 1024 characters"),
])
def test_anything_but_a_plain_field_is_refused_naming_the_key(template, error):
    out = problems(template, "checks.failed_charges.summary")
    assert out and all(p.startswith("checks.failed_charges.summary: ") for p in out)
    assert error in out[0]


def test_rendering_evaluates_nothing_and_cuts_visibly():
    hostile = {"check": "{service}", "values": "x" * 2000}  # values are data, never templates
    assert render("{check}", {**VALUES, **hostile}) == "{service}"
    out = render("{severity} {values}", {**VALUES, **hostile}, limit=1024)
    assert len(out) == 1024 and out.endswith("…") and out.startswith("critical xxx")


def test_every_documented_field_is_accepted():
    assert problems(" ".join(f"{{{f}}}" for f in FIELDS), "k") == []


def test_a_check_template_is_checked_at_load_naming_file_and_key():
    from billing_monitor.checks.errors import ConfigError
    from billing_monitor.settings.load import parse_settings

    raw = {"checks": {"failed_charges": {"summary": "{check.__class__}", "runbook": "{oops"}}}
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, "f.toml", {})
    assert any(p.startswith("f.toml: checks.failed_charges.summary: unknown field "
                            "{check.__class__}") for p in err.value.problems)
    assert any(p.startswith("f.toml: checks.failed_charges.runbook: ") for p in
               err.value.problems)


def test_summary_and_runbook_reach_the_notification_cut_to_pagerduty_limits():
    from billing_monitor.alerting.policy import Event, Incident, Track
    from billing_monitor.alerting.text import notification
    from billing_monitor.alerts.pagerduty import event_payload
    from billing_monitor.checks.base import CheckOptions
    from billing_monitor.checks.thresholds import Thresholds
    from tests.alerting_support import T0, result

    opts = CheckOptions(type="sql", thresholds=Thresholds(critical=10),
                        description="!" * 600,
                        summary="Payments at risk in {period}: {values} {description}{description}",
                        runbook="Call {service} finance; key {dedup_key}")
    res = result("failed_charges", 25, T0, opts)
    key = "billing/failed_charges/2026-W47"
    track = Track("failed_charges", Incident(key), Incident("billing/failed_charges/degraded"))
    n = notification(Event(key, "trigger", "open", "critical", "status"), res, opts, track,
                     service="billing", env="prod", source="host")
    assert n.summary.startswith("Payments at risk in 2026-W47: failed_charges=25 (CRIT > 10) !!")
    assert len(n.summary) == 1024 and n.summary.endswith("…")
    assert event_payload(n)["summary"] == n.summary
    assert n.custom_details["runbook"] == f"Call billing finance; key {key}"
    resolved = notification(Event(key, "resolve", "resolve", "critical", "status"), res, opts,
                            track, service="billing", env="prod", source="host")
    assert resolved.summary.startswith("RESOLVED: billing failed_charges")
