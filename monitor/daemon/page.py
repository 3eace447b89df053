"""The status page: the status document (monitor/alerting/status_doc.py) as
one server-rendered HTML page, each check's chart an SVG image from the same
endpoint (chart.py). No script at all; the stylesheet is package
data served from /static/status.css (CSP: default-src 'none'; style-src
'self'). It refreshes itself (meta refresh) and, if it stops being refreshed,
a banner timed by the stylesheet says it is stale. Status is told in words and
a shape as well as a colour. Every value from the document is escaped here."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from billing_monitor.daemon.chart import MAX_SERIES, H, W, has_chart

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
# Shape and word for each status: readable without colour.
SHAPES = {"OK": "\u2713", "WARN": "\u25b2", "CRIT": "\u2716", "UNKNOWN": "?",
          "NEVER RUN": "\u2013"}
WORDS = {"OK": "OK", "WARN": "Warning", "CRIT": "Critical", "UNKNOWN": "Unknown",
         "NEVER RUN": "Never run"}

MUTED = "\u2298 silenced"  # a shape every font has (no emoji font on servers)


def e(v: object) -> str:
    return "\u2013" if v is None else escape(str(v), quote=True)


def badge(status: str, silenced: bool = False) -> str:
    cls = status.lower().replace(" ", "-") if status in SHAPES else "unknown"
    muted = f' <span class="muted">{MUTED}</span>' if silenced else ""
    return (f'<span class="badge {cls}"><span class="shape" aria-hidden="true">'
            f"{SHAPES.get(status, '?')}</span> {e(WORDS.get(status, status))}</span>{muted}")


def when(iso: str | None) -> str:
    if not iso:
        return "\u2013"
    return f'<time datetime="{e(iso)}">{e(iso.replace("T", " ").replace("Z", " UTC"))}</time>'


def age(seconds: float | None) -> str:
    if seconds is None:
        return "\u2013"
    s = int(seconds)
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{s // n} {unit}"
    return f"{s} s"


def _limit(t: dict[str, Any]) -> str:
    parts = [f"{lvl[:4]} {t['comparator']} {t[lvl]:g}" for lvl in ("warning", "critical")
             if t.get(lvl) is not None]
    return e(", ".join(parts) or "no thresholds")


def _values(c: dict[str, Any]) -> str:
    if not c["values"]:
        return f'<span class="error">{e(c["error"])}</span>' if c["error"] else "\u2013"
    rows = []
    for v in c["values"]:
        name = " ".join([v["metric"], *v["tags"]])
        value = f"{v['value']:g}"
        rows.append(f'<li>{badge(v["status"])} <code>{e(name)}</code> = '
                    f"<strong>{e(value)}</strong> "
                    f'<span class="limits">({_limit(v["thresholds"])})</span></li>')
    err = f'<p class="error">{e(c["error"])}</p>' if c["error"] else ""
    return f'<ul class="values">{"".join(rows)}</ul>{err}'


def _checks(doc: dict[str, Any]) -> str:
    rows = [f'<tr class="check {e(c["status"].lower().replace(" ", "-"))}" '
            f'id="check-{e(c["name"])}"><td>{badge(c["status"], c["silenced"])}</td>'
            f'<th scope="row">{e(c["name"])}</th><td>{_values(c)}</td>'
            f'<td>{when(c["last_run"])}</td><td>{when(c["next_run"])}</td></tr>'
            for c in doc["checks"]]
    return ('<table class="checks"><caption>Checks, worst first</caption><thead><tr>'
            '<th class="c-status">Status</th><th class="c-name">Check</th>'
            "<th>Values against thresholds (and error)</th>"
            '<th class="c-when">Last run</th><th class="c-when">Next run</th></tr></thead>'
            f'<tbody>{"".join(rows)}'
            "</tbody></table>")


def chart_path(name: str) -> str:
    """Where the page finds a check's chart (status_http.py serves it)."""
    return f"/chart/{quote(name, safe='')}.svg"


def _charts(doc: dict[str, Any]) -> str:
    figs = []
    for c in doc["checks"]:
        series = c["series"]
        extra = len(series) - MAX_SERIES
        more = f" ({extra} more series not drawn)" if extra > 0 else ""
        label = f"{c['name']}: values over 7 days"
        # Lazily loaded: the browser fetches, parses and lays out only the
        # charts scrolled to (200 inline charts took most of the page's load).
        chart = (f'<img class="chart" src="{e(chart_path(c["name"]))}" loading="lazy" '
                 f'width="{W}" height="{H}" alt="{e(label)}">' if has_chart(series) else
                 '<p class="nodata">No values recorded in this window.</p>')
        figs.append(f'<figure class="chart-box {e(c["status"].lower().replace(" ", "-"))}">'
                    f"<figcaption>{badge(c['status'], c['silenced'])} {e(c['name'])}"
                    f"{e(more)}</figcaption>{chart}</figure>")
    return f'<section class="charts"><h2>Values over the last 7 days</h2>{"".join(figs)}</section>'


def _attempts(n: int) -> str:
    return f" ({n} attempt{'s' if n > 1 else ''})" if n else ""


def _incidents(doc: dict[str, Any]) -> str:
    if not doc["incidents"]:
        return '<p class="none">No open incidents.</p>'
    rows = []
    for i in doc["incidents"]:
        channels = "".join(f'<li class="delivery {e(d["state"])}">{e(d["channel"])}: '
                           f'{e(d["state"])}{_attempts(d["attempts"])}</li>'
                           for d in i["delivery"])
        told = f'<ul class="delivery">{channels}</ul>' if channels else (
            "not yet (silenced or held)" if not i["notified"] else "queued")
        rows.append(f'<tr><td><code>{e(i["dedup_key"])}</code></td><td>{e(i["check"])}</td>'
                    f'<td>{e(i["severity"])}</td><td>{when(i["opened_at"])} '
                    f'({e(age(i["age_seconds"]))})</td>'
                    f'<td>{MUTED if i["silenced"] else "no"}</td><td>{told}</td></tr>')
    return ('<table class="incidents"><thead><tr><th>Dedup key</th><th>Check</th>'
            "<th>Severity</th><th>Open since</th><th>Silenced</th><th>Who was told</th></tr>"
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _silences(doc: dict[str, Any]) -> str:
    if not doc["silences"]:
        return '<p class="none">No active silences.</p>'
    rows = "".join(f'<tr><td>{e(s["check"])}</td><td>{when(s["until"])}</td>'
                   f'<td>{e(s["reason"])}</td><td>{e(s["created_by"])}</td></tr>'
                   for s in doc["silences"])
    return ('<table class="silences"><thead><tr><th>Check</th><th>Until</th><th>Reason</th>'
            f"<th>By</th></tr></thead><tbody>{rows}</tbody></table>")


def _leadership(doc: dict[str, Any]) -> str:
    lead = doc["leadership"]
    me = lead["this_instance"]
    if lead["mode"] == "single":
        text, cls = "One instance: the SQLite store has no lease; its instance leads.", "held"
    elif lead["holder"] is None:
        text, cls = "No instance has taken the lease yet: none is active.", "lapsed"
    elif not lead["held"]:
        text, cls = (f'No instance is active: the lease of <code>{e(lead["holder"])}</code> '
                     f'(epoch {e(lead["epoch"])}) lapsed at {when(lead["lease_until"])}.',
                     "lapsed")
    else:
        text, cls = (f'Leader: <code>{e(lead["leader"])}</code>, since {when(lead["since"])} '
                     f'(epoch {e(lead["epoch"])}), lease until {when(lead["lease_until"])}.',
                     "held")
    if me is not None and lead["mode"] == "lease":
        role = "leads" if me["role"] == "leader" else "is standing by"
        text += f' This instance (<code>{e(me["holder"])}</code>) {role}.'
    return (f'<section class="leadership"><h2>Leadership</h2>'
            f'<p class="lease {cls}">{text}</p></section>')


def _footer(doc: dict[str, Any]) -> str:
    o = doc["outbox"]
    inst = "".join(f'<li>{e(i["owner"])}: last wrote {when(i["last_seen"])}, '
                   f'{e(i["deliveries_in_flight"])} deliveries in flight</li>'
                   for i in doc["instances"])
    return (f'<section class="outbox"><h2>Outbox</h2><p>{e(o["depth"])} pending (oldest '
            f'{e(age(o["oldest_age_seconds"]))}), {e(o["dead"])} given up.</p></section>'
            f"{_leadership(doc)}"
            f'<section class="instances"><h2>Instances sharing the state store</h2>'
            f'<ul>{inst or "<li>none has written yet</li>"}</ul></section>')


def render_page(doc: dict[str, Any], now: datetime | None = None) -> str:
    """The page for `doc`. `now` (when the page is served) only decides whether
    the document itself is already stale, say from a stuck daemon. The
    charts are images: chart_path(name), drawn by chart.py."""
    generated = datetime.fromisoformat(doc["generated_at"].replace("Z", "+00:00"))
    late = (now or generated).astimezone(UTC) - generated
    stale_now = late.total_seconds() > doc["stale_after_seconds"]
    overall = doc["overall"]
    counts: dict[str, int] = {}
    for c in doc["checks"]:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    summary = ", ".join(f"{n} {WORDS.get(s, s).lower()}" for s, n in counts.items())
    banner = (f'<p class="stale{" now" if stale_now else ""}" role="alert">This page is stale: '
              f'it shows the state at {when(doc["generated_at"])} and has not been refreshed '
              "since. Is the monitor running?</p>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{int(doc["refresh_seconds"])}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(WORDS.get(overall, overall))} \u2013 billing monitor</title>"
        '<link rel="stylesheet" href="/static/status.css"></head>'
        f'<body class="overall-{e(overall.lower().replace(" ", "-"))}">{banner}'
        f'<header><h1>Billing monitor: {badge(overall)}</h1><p class="summary">'
        f"{e(summary or 'no checks')}. Generated {when(doc['generated_at'])}, refreshed "
        f'every {e(doc["refresh_seconds"])} s.</p></header><main>'
        f'<section class="checks-box"><h2>Checks</h2>{_checks(doc)}</section>'
        f'<section class="incidents-box"><h2>Open incidents</h2>{_incidents(doc)}</section>'
        f'<section class="silences-box"><h2>Silences</h2>{_silences(doc)}</section>'
        f"{_charts(doc)}{_footer(doc)}</main></body></html>")
