"""What an alert says, character for character (monitor/alerting/text.py):
every expected string below is written by hand from the README's rules, not
computed by the code under test. Values are named with their tags, crossed
values first, cut to the room with a visible "and N more"; a check's own
`summary` and `runbook` templates see every documented field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_monitor.alerting.policy import Event, Incident, Track
from billing_monitor.alerting.text import (
    DETAILS_MAX,
    SUMMARY_MAX,
    details,
    notification,
    summary,
    values_text,
)
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds

AT = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)  # a Thursday in 2026-W47
KEY = "billing/refunds/2026-W47"
DEGRADED = "billing/refunds/degraded"


def ev(action: str = "trigger", severity: str = "critical", kind: str = "status",
       key: str = KEY, reason: str = "open") -> Event:
    return Event(key, action, reason, severity, kind)


def track(unknown: int = 0, key: str = KEY) -> Track:
    return Track("refunds", Incident(key), Incident(DEGRADED), unknown=unknown)


def res(*evals: tuple[str, float, Status, str, tuple[str, ...]], error: str | None = None,
        status: Status | None = None) -> CheckResult:
    evaluations = tuple(Evaluation(Measurement(n, v, tags), s, t) for n, v, s, t, tags in evals)
    worst = status or max((e.status for e in evaluations), default=Status.UNKNOWN)
    return CheckResult("refunds", worst, evaluations, 0.1, AT,
                       current_period("iso_week", "UTC", AT), error=error)


def opts(**kw: object) -> CheckOptions:
    return CheckOptions(type="sql", thresholds=Thresholds(warning=5, critical=10),
                        **kw)  # type: ignore[arg-type]


OK = ("refunds", 1, Status.OK, "", ())
WARN = ("refunds", 7, Status.WARN, "> 5", ("reason:fraud",))
CRIT = ("refunds", 12.5, Status.CRIT, "> 10", ("reason:card", "region:eu"))


def test_values_are_named_with_their_tags_crossed_ones_first() -> None:
    assert values_text(res(OK, WARN, CRIT), 1000) == (
        "refunds{reason:card,region:eu}=12.5 (CRIT > 10), refunds{reason:fraud}=7 (WARN > 5), "
        "refunds=1")
    assert values_text(res(), 1000) == "no measurements"


def test_values_that_do_not_fit_are_counted() -> None:
    text = "refunds{reason:card,region:eu}=12.5 (CRIT > 10)"  # 47 characters
    assert len(text) == 47
    # Room for the first and " and 2 more" (11): 58 characters exactly.
    assert values_text(res(OK, WARN, CRIT), 58) == text + " and 2 more"
    assert values_text(res(OK, WARN, CRIT), 57) == text[:45] + "…" + " and 2 more"
    # All three fit in 94 characters: nothing is counted (the two first with
    # " and 1 more" are 94 characters too, and say less).
    three = text + ", refunds{reason:fraud}=7 (WARN > 5), refunds=1"
    assert len(three) == 94
    assert values_text(res(OK, WARN, CRIT), 94) == three
    assert values_text(res(OK, WARN, CRIT), 93) == text + " and 2 more"
    # Four values: the second is shown when it leaves room for " and 2 more".
    four = res(OK, WARN, CRIT, ("refunds", 0, Status.OK, "", ("n:0",)))
    two = text + ", refunds{reason:fraud}=7 (WARN > 5)"
    assert len(two) == 83
    assert values_text(four, 94) == two + " and 2 more"
    assert values_text(four, 93) == text + " and 3 more"
    # One value alone too long for the room: cut, with the ellipsis.
    assert values_text(res(CRIT), 10) == "refunds{r…"
    assert values_text(res(CRIT), 47) == text
    assert values_text(res(CRIT), 46) == text[:45] + "…"
    assert values_text(res(CRIT), 0) == "…"


def test_summaries_of_triggers_resolves_and_rollovers() -> None:
    r = res(CRIT)
    assert summary(ev(), r, track(), "billing") == (
        "CRITICAL: billing refunds (2026-W47): refunds{reason:card,region:eu}=12.5 (CRIT > 10)")
    assert summary(ev(severity="warning"), r, track(), "billing").startswith(
        "WARNING: billing refunds (2026-W47): ")
    assert summary(ev("resolve", reason="resolve"), r, track(), "billing") == (
        "RESOLVED: billing refunds (2026-W47): refunds{reason:card,region:eu}=12.5 (CRIT > 10)")
    old = "billing/refunds/2026-W46"
    assert summary(ev("resolve", key=old, reason="resolve"), r, track(), "billing") == (
        "RESOLVED: billing refunds: period of billing/refunds/2026-W46 ended (now 2026-W47): "
        "refunds{reason:card,region:eu}=12.5 (CRIT > 10)")


def test_a_long_summary_is_cut_to_pagerduty_s_1024_characters_with_the_count() -> None:
    many = [("refunds", 20 + i, Status.CRIT, "> 10", (f"reason:r{i:03}",)) for i in range(60)]
    text = summary(ev(), res(*many), track(), "billing")
    head = "CRITICAL: billing refunds (2026-W47): "
    one = "refunds{reason:r000}=20 (CRIT > 10)"  # 35 characters; 37 with ", "
    shown = (SUMMARY_MAX - len(head) - len(" and 34 more") + 2) // 37
    assert shown == 26
    assert text == head + ", ".join(f"refunds{{reason:r{i:03}}}={20 + i} (CRIT > 10)"
                                    for i in range(shown)) + " and 34 more"
    assert len(one) == 35 and len(text) <= SUMMARY_MAX


def test_the_degraded_summary_says_how_often_and_why() -> None:
    broken = res(error="OperationalError: connection refused", status=Status.UNKNOWN)
    d = ev(severity="warning", kind="degraded", key=DEGRADED, reason="degraded")
    assert summary(d, broken, track(unknown=1), "billing") == (
        "Monitor degraded: billing refunds could not run once: "
        "OperationalError: connection refused")
    assert summary(d, broken, track(unknown=3), "billing") == (
        "Monitor degraded: billing refunds could not run 3 times in a row: "
        "OperationalError: connection refused")
    silent = res(status=Status.UNKNOWN)
    assert summary(d, silent, track(unknown=2), "billing") == (
        "Monitor degraded: billing refunds could not run 2 times in a row: unknown error")
    long = res(error="E" * 2000, status=Status.UNKNOWN)
    cut = summary(d, long, track(unknown=1), "billing")
    assert len(cut) == SUMMARY_MAX and cut.endswith("E…")
    assert cut.startswith("Monitor degraded: billing refunds could not run once: EEE")
    exact = "E" * (SUMMARY_MAX - len("Monitor degraded: billing refunds could not run once: "))
    assert summary(d, res(error=exact, status=Status.UNKNOWN), track(unknown=1),
                   "billing").endswith("E" * 20)  # exactly 1,024: not cut
    assert summary(ev("resolve", kind="degraded", key=DEGRADED, reason="resolve"), broken,
                   track(), "billing") == "RESOLVED: monitor degraded: billing refunds runs again"


def test_a_template_sees_every_documented_field() -> None:
    every = ("{service}|{env}|{check}|{description}|{severity}|{status}|{period}|{values}|"
             "{error}|{dedup_key}")
    o = opts(summary=every, runbook=every, description="Refunds paid out")
    n = notification(ev(severity="warning"), res(WARN), o, track(), service="billing",
                     env="prod", source="host-1")
    want = ("billing|prod|refunds|Refunds paid out|warning|WARN|2026-W47|"
            "refunds{reason:fraud}=7 (WARN > 5)||billing/refunds/2026-W47")
    assert n.summary == want
    assert n.custom_details["runbook"] == want
    broken = res(error="OperationalError: no such table: refunds", status=Status.UNKNOWN)
    d = notification(ev(severity="warning"), broken, o, track(), service="billing",
                     env="prod", source="host-1")
    assert d.summary == ("billing|prod|refunds|Refunds paid out|warning|UNKNOWN|2026-W47|"
                         "no measurements|OperationalError: no such table: refunds|"
                         "billing/refunds/2026-W47")


def test_a_resolve_says_resolved_whatever_the_template() -> None:
    o = opts(summary="Payments at risk: {values}")
    n = notification(ev("resolve", reason="resolve"), res(OK), o, track(), service="billing",
                     env="prod", source="host-1")
    assert n.summary == "RESOLVED: billing refunds (2026-W47): refunds=1"
    assert n.action == "resolve"
    assert notification(ev(), res(CRIT), o, track(), service="billing", env="prod",
                        source="host-1").summary == (
        "Payments at risk: refunds{reason:card,region:eu}=12.5 (CRIT > 10)")


def test_the_notification_carries_everything_a_receiver_shows() -> None:
    o = opts(description="Refunds paid out", runbook_url="https://wiki.example/refunds")
    n = notification(ev(reason="escalate"), res(OK, CRIT), o, track(), service="billing",
                     env="prod", source="host-1")
    assert (n.action, n.reason, n.dedup_key, n.check, n.severity, n.source, n.component,
            n.group) == ("trigger", "escalate", KEY, "refunds", "critical", "host-1",
                         "refunds", "billing")
    assert n.occurred_at == AT
    assert n.links == (("https://wiki.example/refunds", "Runbook"),)
    assert "runbook" not in n.custom_details  # no runbook template
    plain = notification(ev(), res(OK), opts(), track(), service="billing", env="prod",
                         source="host-1")
    assert plain.links == ()


def test_details_put_crossed_values_first_and_count_what_is_left() -> None:
    o = opts(description="Refunds paid out")
    d = details(ev(reason="escalate"), res(OK, WARN, CRIT), o, "prod")
    assert {k: v for k, v in d.items() if k != "measurements"} == {
        "check": "refunds", "status": "CRIT", "period": "2026-W47", "reason": "escalate",
        "env": "prod", "thresholds": "warn > 5, crit > 10", "description": "Refunds paid out"}
    assert [(m["value"], m["status"]) for m in d["measurements"]] == [
        (12.5, "CRIT"), (7, "WARN"), (1, "OK")]
    broken = details(ev(), res(error="OperationalError: boom", status=Status.UNKNOWN),
                     opts(), "prod")
    assert broken["error"] == "OperationalError: boom"
    assert "description" not in broken and "measurements_omitted" not in broken
    assert broken["measurements"] == []


@pytest.mark.parametrize(("crossing", "ok"), [(DETAILS_MAX, 0), (3, DETAILS_MAX - 3),
                                              (60, 45), (DETAILS_MAX + 7, 20)])
def test_details_keep_100_measurements_and_count_the_rest(crossing: int, ok: int) -> None:
    evals = ([("refunds", 1, Status.OK, "", (f"n:{i}",)) for i in range(ok)]
             + [("refunds", 20, Status.CRIT, "> 10", (f"c:{i}",)) for i in range(crossing)])
    d = details(ev(), res(*evals), opts(), "prod")
    total = crossing + ok
    assert len(d["measurements"]) == min(total, 100)
    assert [m["status"] for m in d["measurements"]][:min(crossing, 100)] == (
        ["CRIT"] * min(crossing, 100))
    if total <= 100:
        assert "measurements_omitted" not in d
    else:
        assert d["measurements_omitted"] == {"values": total - 100,
                                             "crossing": max(crossing - 100, 0)}


def test_a_runbook_is_cut_at_4000_characters_visibly() -> None:
    """The runbook template is checked at load to be at most 4,000 characters,
    but its fields can make it longer ({values}, {error}): the rendered text
    stops at 4,000 with an ellipsis."""
    o = opts(runbook="{error}{error}{error}")
    broken = res(error="E" * 1500, status=Status.UNKNOWN)
    n = notification(ev(), broken, o, track(), service="billing", env="prod", source="h")
    assert n.custom_details["runbook"] == "E" * 3999 + "…"
    short = res(error="E" * 1333, status=Status.UNKNOWN)
    n = notification(ev(), short, o, track(), service="billing", env="prod", source="h")
    assert n.custom_details["runbook"] == "E" * 3999  # under the limit: whole
