"""Per-check summary templates and runbook text: `{field}` placeholders from
a fixed list, checked when the configuration loads and filled in by plain
concatenation. Nothing is evaluated: no attribute or index access
(`{check.__class__}`), no conversion (`{check!r}`), no format spec (a width
of `{check:>999999999}` would build a gigabyte string), no nesting. `{{` and
`}}` are literal braces. Each service then cuts the text to its own limit
(PagerDuty's summary: 1,024 characters), visibly, with "…"."""

from __future__ import annotations

import string
from collections.abc import Mapping

FIELDS = {
    "service": "the [monitor] service",
    "env": "the [monitor] env",
    "check": "the check's name",
    "description": "the check's description",
    "severity": "critical, warning, ... (the alert's)",
    "status": "OK, WARN, CRIT or UNKNOWN (the check's)",
    "period": "the business period, e.g. 2026-W48",
    "values": "the values, those that crossed a threshold first",
    "error": "why the check could not run ('' when it ran)",
    "dedup_key": "the alert's dedup key",
}
TEMPLATE_MAX = 1024
RUNBOOK_MAX = 4000


def problems(text: str, key: str, limit: int = TEMPLATE_MAX) -> list[str]:
    """Every problem in `text`, each naming `key` (e.g. "checks.x.summary")."""
    if len(text) > limit:
        return [f"{key}: longer than {limit} characters"]
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:  # a lone "{" or "}"
        return [f"{key}: {exc} (write {{{{ and }}}} for literal braces)"]
    out = []
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in FIELDS:
            out.append(f"{key}: unknown field {{{field}}} (fields: {', '.join(sorted(FIELDS))})")
        elif conversion is not None or spec:
            out.append(f"{key}: {{{field}}} takes no conversion or format spec")
    return out


def first_problem(text: str, limit: int = TEMPLATE_MAX) -> str | None:
    """For a field validator: the first problem, without a key (pydantic adds it)."""
    found = problems(text, "", limit)
    return found[0].removeprefix(": ") if found else None


def render(text: str, values: Mapping[str, str], limit: int | None = None) -> str:
    """`text` (already checked by `problems`) with its fields filled in."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(text):
        out.append(literal)
        if field is not None:
            out.append(str(values.get(field, "")))
    rendered = "".join(out)
    return cut(rendered, limit) if limit is not None else rendered


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
