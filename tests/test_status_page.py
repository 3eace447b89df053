"""The status document and page (monitor/alerting/status_doc.py,
monitor/daemon/page.py, chart.py): what they say about each kind of check,
their structure, and hostile names, tags and errors that must stay text."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine

from billing_monitor.alerting.store import open_state
from billing_monitor.daemon.chart import check_chart
from billing_monitor.daemon.page import CSP, render_page
from billing_monitor.daemon.status_http import stylesheet
from tests.alerting_support import state_url, store
from tests.status_support import NOW, document, path_points, populate, validate

__all__ = ["state_url", "store"]  # fixtures

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;</svg>"


class Tree(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tree:
    tree = Tree()
    tree.feed(html)
    tree.close()
    return tree


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Engine:
    return open_state(f"sqlite:///{tmp_path / 'state.db'}")


def test_the_document_tells_each_kind_of_check_apart(store: Engine) -> None:
    doc = document(store, populate(store))
    validate(doc)
    by = {c["name"]: c for c in doc["checks"]}
    assert [c["name"] for c in doc["checks"]] == [  # worst first
        "refunds_pending", "unbilled_orders", "stripe_sync", "never_ran", "invoices_sent"]
    assert doc["overall"] == "CRIT"
    assert (by["unbilled_orders"]["status"], by["unbilled_orders"]["silenced"]) == ("CRIT", False)
    assert (by["refunds_pending"]["status"], by["refunds_pending"]["silenced"]) == ("CRIT", True)
    assert (by["stripe_sync"]["status"], by["stripe_sync"]["error"]) == (
        "UNKNOWN", "OperationalError: refused")
    assert by["never_ran"]["status"] == "NEVER RUN" and by["never_ran"]["series"] == []
    assert by["unbilled_orders"]["values"] == [{
        "metric": "unbilled_orders", "tags": [], "value": 25.0, "status": "CRIT",
        "threshold": "> 10", "thresholds": {"warning": 5.0, "critical": 10.0,
                                             "comparator": ">"}}]
    (series,) = by["invoices_sent"]["series"]
    assert len(series["points"]) == 168 and series["thresholds"]["critical"] == 10.0
    assert by["invoices_sent"]["next_run"] == "2026-11-19T06:00:00Z"  # */5 * * * *
    incidents = {i["check"]: i for i in doc["incidents"]}
    assert incidents["unbilled_orders"]["delivery"] == [
        {"channel": "slack", "state": "delivered", "attempts": 1}]
    assert (incidents["refunds_pending"]["silenced"], incidents["refunds_pending"]["notified"],
            incidents["refunds_pending"]["age_seconds"]) == (True, False, 180)
    assert [s["reason"] for s in doc["silences"]] == ["migration"]
    assert [i["owner"] for i in doc["instances"]] == ["monitor-test-host"]


def test_the_page_says_each_status_in_words_and_a_shape(sqlite_store: Engine) -> None:
    doc = document(sqlite_store, populate(sqlite_store))
    tree = parse(render_page(doc, NOW))
    rows = {a["id"]: a["class"] for t, a in tree.tags if t == "tr" and a.get("id")}
    assert rows == {"check-unbilled_orders": "check crit", "check-refunds_pending": "check crit",
                    "check-stripe_sync": "check unknown", "check-never_ran": "check never-run",
                    "check-invoices_sent": "check ok"}
    text = "".join(tree.text)
    for words in ("\u2716 Critical", "? Unknown", "\u2713 OK", "\u2013 Never run",
                  "\u2298 silenced", "OperationalError: refused", "slack: delivered",
                  "billing/unbilled_orders/2026-W47", "0 pending"):
        assert words in text, words
    imgs = [a for t, a in tree.tags if t == "img"]  # never_ran has no values: said in words
    drawn = ["refunds_pending", "unbilled_orders", "stripe_sync", "invoices_sent"]
    assert [(a["src"], a["loading"], a["class"]) for a in imgs] == [
        (f"/chart/{n}.svg", "lazy", "chart") for n in drawn]
    assert [a["alt"] for a in imgs] == [f"{n}: values over 7 days" for n in drawn]
    assert "No values recorded in this window" in text
    assert check_chart(doc, "never_ran") is None and check_chart(doc, "nope") is None
    for name in drawn:
        chart = parse(check_chart(doc, name) or "")
        (svg,) = [a for t, a in chart.tags if t == "svg"]
        assert svg["xmlns"] == "http://www.w3.org/2000/svg" and svg["role"] == "img"
        lines = [a["d"] for t, a in chart.tags if t == "path" and a.get("class") == "line s0"]
        assert [path_points(d) for d in lines] == [168]
        limits = [a for t, a in chart.tags if t == "path" and "limit" in (a.get("class") or "")]
        assert [a["class"] for a in limits] == ["limit warning", "limit critical"]
        dashes = [a["stroke-dasharray"] for a in limits]  # told apart without colour
        assert dashes[0] != dashes[1] and all(dashes)


def test_the_page_needs_nothing_its_csp_refuses(sqlite_store: Engine) -> None:
    doc = document(sqlite_store, populate(sqlite_store))
    html = render_page(doc, NOW)
    tree = parse(html)
    names = {t for t, _ in tree.tags}
    assert not names & {"script", "iframe", "object", "embed", "style", "form"}
    assert all(a["src"].startswith("/chart/") for t, a in tree.tags if t == "img")  # self
    assert not [a for _, a in tree.tags if "style" in a or any(k.startswith("on") for k in a)]
    links = [a for t, a in tree.tags if t == "link"]
    assert links == [{"rel": "stylesheet", "href": "/static/status.css"}]
    refresh = [a for t, a in tree.tags if t == "meta" and a.get("http-equiv") == "refresh"]
    assert refresh == [{"http-equiv": "refresh", "content": "30"}]
    assert "default-src 'none'" in CSP and "style-src 'self'" in CSP
    assert "script-src" not in CSP and "unsafe" not in CSP


def test_a_stale_page_says_so(sqlite_store: Engine) -> None:
    doc = document(sqlite_store, populate(sqlite_store))
    fresh = parse(render_page(doc, NOW + timedelta(seconds=30)))
    late = parse(render_page(doc, NOW + timedelta(seconds=121)))
    banner = [a["class"] for t, a in fresh.tags if t == "p" and "stale" in (a.get("class") or "")]
    assert banner == ["stale"]  # hidden until the stylesheet's timer shows it
    assert [a["class"] for t, a in late.tags if t == "p" and "stale" in (a.get("class") or "")] == [
        "stale now"]
    assert "This page is stale" in " ".join(late.text)
    css = stylesheet().decode()
    delay = re.search(r"\.stale \{[^}]*animation: stale 1ms linear (\d+)s forwards", css)
    assert delay is not None and int(delay.group(1)) == doc["stale_after_seconds"]


def test_hostile_names_tags_and_errors_stay_text(sqlite_store: Engine) -> None:
    checks = populate(sqlite_store, hostile=HOSTILE, error=f"boom {HOSTILE}")
    doc = document(sqlite_store, checks)
    doc["checks"][0]["values"][0]["tags"] = [f"plan:{HOSTILE}"]
    doc["checks"][0]["series"][0]["tags"] = [f"plan:{HOSTILE}"]
    html = render_page(doc, NOW)
    tree = parse(html)
    assert "script" not in {t for t, _ in tree.tags}
    srcs = [a["src"] for t, a in tree.tags if t == "img"]
    assert srcs and all(src.startswith("/chart/") and src.endswith(".svg") for src in srcs)
    assert f"/chart/{quote(f'unbilled_orders{HOSTILE}', safe='')}.svg" in srcs
    assert not [a for _, a in tree.tags if any(k.startswith("on") for k in a)]
    text = "".join(tree.text)
    assert text.count(HOSTILE) >= 10  # names, tags, error, reason, keys: shown as typed
    assert "<script" not in html and "<img src=x" not in html
    svg = check_chart(doc, f"unbilled_orders{HOSTILE}") or ""
    assert "<script" not in svg and "<img" not in svg and HOSTILE in "".join(parse(svg).text)
    ids = [a["id"] for t, a in tree.tags if t == "tr" and a.get("id")]
    assert f"check-unbilled_orders{HOSTILE}" in ids  # an attribute value, whole


def test_the_daemons_chart_cache_draws_again_only_what_changed(
        sqlite_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing_monitor.daemon.chart import ChartCache, svg_chart

    doc = document(sqlite_store, populate(sqlite_store))
    names = [c["name"] for c in doc["checks"] if c["series"]]
    cache = ChartCache()
    assert [check_chart(doc, n, cache.svg) for n in names] == [
        check_chart(doc, n) for n in names]
    drawn: list[str] = []

    def counting(*args: object) -> str:
        drawn.append(str(args[3]))
        return svg_chart(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("billing_monitor.daemon.chart.svg_chart", counting)
    for n in names:
        check_chart(doc, n, cache.svg)
    assert drawn == []  # nothing changed: every chart kept
    doc["checks"][1]["series"][0]["points"][-1][1] = 99.0  # a new run of one check
    charts = [check_chart(doc, n, cache.svg) for n in names]
    monkeypatch.undo()
    assert drawn == [f"{doc['checks'][1]['name']}: values over 7 days"]
    assert charts == [check_chart(doc, n) for n in names]
