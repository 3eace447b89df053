"""What a chat post says, for the engineer reading it at 3 AM: what happened,
which check, its status, each value against its threshold, a few offending
ids, and where the runbook is. Slack and Google Chat render the same `ChatPost`.

`custom_details` is read in the shape of `CheckResult.to_dict()` (status,
period, error, measurements with name/value/status/threshold/samples); the
check and the reason are in the title; any other key is shown as `key: value`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing_monitor.alerts.contract import Notification, Reason

HEADLINES: dict[Reason, str] = {
    "open": "ALERT",
    "escalate": "ESCALATED",
    "deescalate": "DE-ESCALATED",
    "renotify": "STILL FAILING",
    "resolve": "RESOLVED",
    "degraded": "MONITOR DEGRADED",
    "test": "TEST ONLY — please ignore",
}
ICONS: dict[Reason, str] = {
    "open": "\U0001f534", "escalate": "\U0001f534", "deescalate": "\U0001f7e0",
    "renotify": "\U0001f501", "resolve": "\u2705", "degraded": "\u26a0\ufe0f",
    "test": "\U0001f9ea",
}
MAX_SAMPLES = 10
MAX_VALUES = 20  # measurement lines in one post; the rest are counted
LINE_MAX = 500  # characters in one line (an error message can be long)
# The check's runbook text, shown whole up to this (a Slack section holds 3,000;
# PagerDuty gets it in custom_details up to checks/templates.py's 4,000).
RUNBOOK_MAX = 2000
# check, reason: in the title; measurements_omitted: counted with the values;
# runbook: its own part of the post
_KNOWN = {"status", "period", "error", "measurements", "check", "reason", "measurements_omitted",
          "runbook"}


@dataclass(frozen=True)
class ChatPost:
    title: str  # one line: icon, headline, check
    summary: str
    lines: tuple[str, ...]  # plain text facts, one per line
    links: tuple[tuple[str, str], ...]  # (href, text)
    footer: str  # dedup key and time
    runbook: str = ""  # what to do (the check's `runbook` text), its own block

    @property
    def text(self) -> str:
        """The plain-text fallback (notifications, screen readers, old clients)."""
        parts = [self.title, self.summary, *self.lines]
        parts += [f"{RUNBOOK_TITLE}: {self.runbook}"] if self.runbook else []
        parts += [f"{text}: {href}" for href, text in self.links]
        return "\n".join([*parts, self.footer])


def _number(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


RUNBOOK_TITLE = "What to do"


def _cut(line: str, limit: int = LINE_MAX) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _measurement(m: Mapping[str, Any]) -> list[str]:
    tags = [str(t) for t in m.get("tags") or ()]
    name = f"{m.get('name', '?')}{{{','.join(tags)}}}" if tags else str(m.get("name", "?"))
    line = f"{name} = {_number(m.get('value', '?'))}"
    status, threshold = m.get("status"), m.get("threshold")
    if threshold:
        line += f" ({str(status or '').lower() or 'threshold'}: {threshold})"
    elif status:
        line += f" ({status})"
    out = [_cut(line)]
    samples = [str(s) for s in m.get("samples") or ()]
    if samples:
        more = f" and {len(samples) - MAX_SAMPLES} more" if len(samples) > MAX_SAMPLES else ""
        out.append(_cut(f"  sample ids: {', '.join(samples[:MAX_SAMPLES])}{more}"))
    return out


def detail_lines(details: Mapping[str, Any]) -> list[str]:
    lines = []
    if details.get("status"):
        period = f" (period {details['period']})" if details.get("period") else ""
        lines.append(f"Status: {details['status']}{period}")
    if details.get("error"):
        lines.append(_cut(f"Error: {details['error']}"))
    # The alert engine puts the values that crossed a threshold first.
    values = [m for m in details.get("measurements") or () if isinstance(m, Mapping)]
    for m in values[:MAX_VALUES]:
        lines += _measurement(m)
    omitted = details.get("measurements_omitted")
    more, crossing = (int(omitted.get("values", 0)), int(omitted.get("crossing", 0))) \
        if isinstance(omitted, Mapping) else (0, 0)
    rest = values[MAX_VALUES:]
    more += len(rest)
    crossing += sum(1 for m in rest if str(m.get("status", "OK")) != "OK")
    if more:
        lines.append(f"… and {more} more values ({crossing} of them crossing a threshold)")
    lines += [_cut(f"{k}: {v}") for k, v in details.items() if k not in _KNOWN]
    return lines


def chat_post(n: Notification) -> ChatPost:
    headline = HEADLINES[n.reason]
    severity = "" if n.reason in ("resolve", "test") else f" [{n.severity}]"
    return ChatPost(
        title=f"{ICONS[n.reason]} {headline}{severity}: {n.check}",
        summary=n.summary,
        lines=tuple(detail_lines(n.custom_details)),
        links=n.links,
        footer=f"dedup key {n.dedup_key} · {n.occurred_at.isoformat(timespec='seconds')}"
               f" · {n.source}",
        runbook=_cut(str(n.custom_details.get("runbook") or "").strip(), RUNBOOK_MAX),
    )
