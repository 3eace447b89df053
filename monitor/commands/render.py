"""What commands print: plain tables for people, JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from billing_monitor.checks.contract import CheckResult, RunReport
from billing_monitor.settings.model import Settings
from billing_monitor.tables import table


def _value(v: float) -> str:
    return f"{v:g}"


def result_rows(results: Sequence[CheckResult]) -> list[list[str]]:
    rows = []
    for r in results:
        if not r.evaluations:
            rows.append([r.check, r.status.label, "-", "-", r.error or "no measurements"])
        for e in r.evaluations:
            m = e.measurement
            detail = ", ".join(m.samples[:5]) + (" ..." if len(m.samples) > 5 else "")
            name = m.name + (f" {{{','.join(m.tags)}}}" if m.tags else "")
            rows.append([r.check, e.status.label, name, _value(m.value), e.threshold or detail])
    return rows


def report_text(report: RunReport, settings: Settings) -> str:
    period = report.results[0].period.label if report.results else "-"
    out = [
        f"Period {period} ({settings.period.kind}, {settings.period.timezone})",
        "",
        table(["CHECK", "STATUS", "METRIC", "VALUE", "THRESHOLD / DETAIL"],
              result_rows(report.results)),
    ]
    samples = [
        (r.check, e.measurement.samples)
        for r in report.results for e in r.evaluations if e.measurement.samples
    ]
    if samples:
        out += ["", f"Sample ids (at most {settings.monitor.sample_limit} per check):"]
        out += [f"  {check}: {', '.join(ids)}" for check, ids in samples]
    if report.sink_errors:
        out += ["", "Sink errors:"]
        out += [f"  {sink} ({check}): {err}" for sink, check, err in report.sink_errors]
    out += ["", f"Overall: {report.worst.label}"]
    return "\n".join(out)


def report_json(report: RunReport, extra: Mapping[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {
        "status": report.worst.label,
        "results": [r.to_dict() for r in report.results],
        "sink_errors": [
            {"sink": s, "check": c, "error": e} for s, c, e in report.sink_errors
        ],
    }
    doc.update(extra or {})
    # Strict JSON: a NaN or an infinity never reaches here (the runner makes
    # such a value UNKNOWN), and if one did, failing beats printing `NaN`.
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False)
