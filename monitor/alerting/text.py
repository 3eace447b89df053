"""What an alert says: its one-line summary and the notification stored in
the outbox. A value is named with its tags (`declined_payments{reason:fraud}=3
(CRIT > 2)`), the values that crossed a threshold come first, and whatever
does not fit the services' limits is counted, never silently dropped ("and 197
more"). PagerDuty's summary is at most 1,024 characters; the custom details
carry at most DETAILS_MAX measurements."""

from __future__ import annotations

from typing import Any

from billing_monitor.alerting.policy import Event, Track
from billing_monitor.alerting.tables import utc
from billing_monitor.alerts.contract import Notification
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Status
from billing_monitor.checks.templates import RUNBOOK_MAX, render

SUMMARY_MAX = 1024  # PagerDuty Events API v2 limit
DETAILS_MAX = 100  # measurements in custom_details (PagerDuty: 512 KB per event)


def value_text(e: Evaluation) -> str:
    m = e.measurement
    tags = "{" + ",".join(m.tags) + "}" if m.tags else ""
    crossed = f" ({e.status.label} {e.threshold})" if e.threshold else ""
    return f"{m.name}{tags}={m.value:g}{crossed}"


def worst_first(result: CheckResult) -> list[Evaluation]:
    """Crossed values first, the worst of them first; otherwise in the check's order."""
    return sorted(result.evaluations, key=lambda e: -int(e.status))


def values_text(result: CheckResult, room: int) -> str:
    """As many values as fit in `room` characters, then "and N more"."""
    ordered = worst_first(result)
    if not ordered:
        return "no measurements"
    shown: list[str] = []
    for i, e in enumerate(ordered):
        rest = len(ordered) - i - 1
        more = f" and {rest} more" if rest else ""
        candidate = ", ".join([*shown, value_text(e)])
        # Each value shown leaves room for the count of those after it.
        if len(candidate) + len(more) > room:
            if shown:
                return ", ".join(shown) + f" and {len(ordered) - len(shown)} more"
            return candidate[: max(room - len(more) - 1, 0)] + "…" + more  # one alone: cut
        shown.append(value_text(e))
    return ", ".join(shown)


def summary(ev: Event, result: CheckResult, track: Track, service: str) -> str:
    where = f"{service} {result.check}"
    if ev.kind == "degraded":
        if ev.action == "resolve":
            return f"RESOLVED: monitor degraded: {where} runs again"
        times = "once" if track.unknown == 1 else f"{track.unknown} times in a row"
        text = (f"Monitor degraded: {where} could not run {times}: "
                f"{result.error or 'unknown error'}")
        return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"
    period = result.period.label
    if ev.action == "resolve":
        if ev.key != track.main.key:  # the period rolled over under an open incident
            head = f"RESOLVED: {where}: period of {ev.key} ended (now {period}): "
        else:
            head = f"RESOLVED: {where} ({period}): "
    else:
        head = f"{ev.severity.upper()}: {where} ({period}): "
    return head + values_text(result, SUMMARY_MAX - len(head))


def fields(ev: Event, result: CheckResult, opts: CheckOptions, service: str,
           env: str) -> dict[str, str]:
    """The values a check's `summary` and `runbook` templates may name."""
    return {"service": service, "env": env, "check": result.check,
            "description": opts.description, "severity": ev.severity,
            "status": result.status.label, "period": result.period.label,
            "values": values_text(result, SUMMARY_MAX), "error": result.error or "",
            "dedup_key": ev.key}


def templated_summary(ev: Event, result: CheckResult, opts: CheckOptions, track: Track,
                      service: str, env: str) -> str:
    """The check's own `summary` template for its triggers, else the built-in
    text; a resolve always says RESOLVED."""
    built_in = summary(ev, result, track, service)
    if opts.summary is None or ev.action == "resolve":
        return built_in
    return render(opts.summary, fields(ev, result, opts, service, env), SUMMARY_MAX)


def details(ev: Event, result: CheckResult, opts: CheckOptions, env: str) -> dict[str, Any]:
    measurements = result.to_dict()["measurements"]
    assert isinstance(measurements, list)
    ordered = sorted(measurements, key=lambda m: -int(Status[m["status"]]))
    out: dict[str, Any] = {
        "check": result.check, "status": result.status.label,
        "period": result.period.label, "reason": ev.reason, "env": env,
        "thresholds": opts.thresholds.describe(),
        "measurements": ordered[:DETAILS_MAX],
    }
    if len(ordered) > DETAILS_MAX:
        left = ordered[DETAILS_MAX:]
        out["measurements_omitted"] = {
            "values": len(left), "crossing": sum(1 for m in left if m["status"] != "OK")}
    if result.error:
        out["error"] = result.error
    if opts.description:
        out["description"] = opts.description
    return out


def notification(ev: Event, result: CheckResult, opts: CheckOptions, track: Track, *,
                 service: str, env: str, source: str) -> Notification:
    extra = {"runbook": render(opts.runbook, fields(ev, result, opts, service, env),
                               RUNBOOK_MAX)} if opts.runbook else {}
    return Notification(
        action="resolve" if ev.action == "resolve" else "trigger",
        reason=ev.reason, dedup_key=ev.key, check=result.check, severity=ev.severity,
        summary=templated_summary(ev, result, opts, track, service, env), source=source,
        occurred_at=utc(result.started_at), component=result.check, group=service,
        custom_details={**details(ev, result, opts, env), **extra},
        links=((opts.runbook_url, "Runbook"),) if opts.runbook_url else (),
    )
