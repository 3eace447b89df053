"""The status page with 200 checks and 7 days of history (issue 14: the page
loads in under 200 ms).

    .venv/bin/python -m bench.status_page [--postgres] [LOADS]

A state store (SQLite file in a temporary directory, or a fresh database on a
throwaway PostgreSQL) holds 200 checks, each with one run through the real
alert engine (a fifth of them CRIT, so incidents and outbox rows exist) and 7
days of 5-minute runs in the measurement history (what `history.record`
writes: both resolutions; bulk-inserted to save time). Then, each the median
of LOADS:
  - the document alone (`build_document`: store reads and 200 series), cold
    and with the daemon's WindowCache (a refresh reads the last two hours),
  - the HTML and its 200 chart images (`render_page`, `check_chart`), and
    with the daemon's ChartCache (charts drawn again only for checks that ran),
  - GET / on the daemon's real HTTP endpoint from request to last byte:
    "before" (commit BEFORE, bench/status_before.py: built per request),
    "after" (as the daemon serves it: one document per 5 s, gzipped) and
    "after_rebuilt" (today's code, the document built per request),
  - "before" and "after" in headless Chromium (tests/browser.py), loaded in
    turn: the browser's own Navigation Timing from navigation start
    (responseEnd, domContentLoaded, the load event) and the moment every
    lazily loaded chart is drawn when all are asked for after the load;
and, side by side, the 200 series read from the hourly rows against the same
200 series merged from the 5-minute rows (the design without the hourly rows).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.status_before import BeforePages
from billing_monitor.alerting.engine import AlertEngine
from billing_monitor.alerting.history import RESOLUTIONS, series
from billing_monitor.alerting.history_bulk import WindowCache
from billing_monitor.alerting.status_doc import build_document
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import measurements
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement
from billing_monitor.checks.history import series_key
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from billing_monitor.commands.run import PAGE_MAX_AGE
from billing_monitor.daemon.chart import ChartCache, check_chart, svg_chart
from billing_monitor.daemon.http import HttpEndpoint
from billing_monitor.daemon.page import render_page
from billing_monitor.daemon.status_http import Auth, StatusPages

CHECKS, DAYS = 200, 7
NOW = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)


def result(check: str, value: float, at: datetime, opts: CheckOptions) -> CheckResult:
    status, crossed = opts.thresholds.evaluate(value)
    evaluation = Evaluation(Measurement(check, value), status, crossed)
    return CheckResult(check, status, (evaluation,), 0.1, at,
                       current_period("iso_week", "UTC", at))


def populate(store: Engine) -> dict[str, CheckOptions]:
    limits = Thresholds(warning=5, critical=10)
    checks = {f"check_{i:03d}": CheckOptions(type="sql", thresholds=limits)
              for i in range(CHECKS)}
    start = NOW - timedelta(days=DAYS)
    with store.begin() as conn:
        for c, name in enumerate(checks):
            key = series_key(name)
            for res in RESOLUTIONS:
                k, n = res // 300, DAYS * 86400 // res
                conn.execute(measurements.insert(), [
                    {"check_name": name, "tags": key, "resolution_s": res,
                     "bucket_start": start + timedelta(seconds=res * i), "count": k,
                     "sum": float(k * ((i + c) % 13)), "min": float((i + c) % 13),
                     "max": float((i + c) % 13 + k - 1), "last": float((i + c) % 13)}
                    for i in range(n)])
    engine = AlertEngine(store, checks, ["slack"], service="billing", env="bench",
                         source="bench-host")
    for c, name in enumerate(checks):
        engine.emit(result(name, 25.0 if c % 5 == 0 else 1.0, NOW - timedelta(minutes=2),
                           checks[name]))
    return checks


def median_ms(fn: Callable[[], object], loads: int) -> float:
    runs = []
    for _ in range(loads):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return round(statistics.median(runs) * 1000, 1)


def cpu_ms(fn: Callable[[], object], loads: int) -> float:
    """This thread's CPU time: what a shared, busy machine does not inflate."""
    runs = []
    for _ in range(loads):
        t0 = time.thread_time()
        fn()
        runs.append(time.thread_time() - t0)
    return round(statistics.median(runs) * 1000, 1)


@contextmanager
def state_store(postgres: bool) -> Iterator[Engine]:
    if postgres:
        from tests.peers.postgres import postgres_server

        with postgres_server() as server:
            store = open_state(server.fresh_database("bench_status"))
            yield store
            store.dispose()
        return
    with tempfile.TemporaryDirectory() as d:
        store = open_state(f"sqlite:///{Path(d) / 'state.db'}")
        yield store
        store.dispose()


def page_and_charts(doc: dict[str, Any], draw: Any = svg_chart) -> int:
    """The page's HTML and every chart it links (bytes, so nothing is lazy)."""
    size = len(render_page(doc, NOW))
    return size + sum(len(check_chart(doc, c["name"], draw) or "") for c in doc["checks"])


# After the load event: every lazily loaded chart fetched and decoded at once,
# as if the whole page were scrolled through (a page without images: at once).
ALL_DRAWN = ("const done = arguments[arguments.length - 1];"
             "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager');"
             "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
             ".then(() => done(performance.now()));")
NAV = ("const n = performance.getEntriesByType('navigation')[0];"
       "return [n.responseEnd - n.startTime, n.domContentLoadedEventEnd - n.startTime,"
       " n.loadEventEnd - n.startTime];")


def browser_ms(urls: dict[str, str], loads: int) -> dict[str, list[float]] | None:
    """Per page: medians of the browser's own Navigation Timing, from
    navigation start: [responseEnd, domContentLoadedEventEnd, loadEventEnd,
    every chart drawn (ALL_DRAWN)].
    The pages are loaded in turn, so both see the same load of the machine."""
    from tests import browser

    if not browser.available():
        return None
    times: dict[str, list[list[float]]] = {k: [] for k in urls}
    drawn: dict[str, list[float]] = {}
    with browser.chromium() as driver:
        for url in urls.values():
            driver.get(url)  # warm: the browser's own start-up is not the page's
        for _ in range(loads):
            for name, url in urls.items():
                driver.get(url)
                times[name].append([float(v) for v in driver.execute_script(NAV)])
        for _ in range(loads):  # apart: 200 images drawn must not weigh on the next load
            for name, url in urls.items():
                driver.get(url)
                drawn.setdefault(name, []).append(float(driver.execute_async_script(ALL_DRAWN)))
    for name, ms in drawn.items():
        for row, d in zip(times[name], ms, strict=True):
            row.append(d)
    return {k: [round(statistics.median(r[i] for r in v), 1) for i in range(4)]
            for k, v in times.items()}


def serve(pages: Any) -> HttpEndpoint:
    endpoint = HttpEndpoint("127.0.0.1", 0, lambda: b"", lambda: (True, {}), pages=pages)
    endpoint.start()
    return endpoint


def main(argv: list[str]) -> int:
    postgres = "--postgres" in argv
    loads = int(next((a for a in argv if a.isdigit()), "15"))
    with state_store(postgres) as store:
        t0 = time.perf_counter()
        checks = populate(store)
        fill_s = time.perf_counter() - t0
        doc = build_document(store, checks, NOW)
        html = render_page(doc, NOW)
        cache, charts, cache_before = WindowCache(), ChartCache(), WindowCache()
        before = BeforePages(lambda: build_document(store, checks, NOW, cache=cache_before),
                             lambda: NOW)
        pages = StatusPages(lambda: build_document(store, checks, NOW, cache=cache),
                            Auth(None, True), lambda: NOW, PAGE_MAX_AGE)
        # "after_rebuilt": the same with the document built for every request
        # (what the request that finds the 5-second copy expired pays)
        rebuilt = StatusPages(lambda: build_document(store, checks, NOW, cache=cache),
                              Auth(None, True), lambda: NOW, 0.0)
        endpoints = {"before": serve(before), "after": serve(pages),
                     "after_rebuilt": serve(rebuilt)}
        load_at_browser = os.getloadavg()[0]
        try:
            import httpx

            with httpx.Client() as client:
                def fetch(url: str) -> Callable[[], object]:
                    return lambda: client.get(url).raise_for_status()

                get = {k: median_ms(fetch(f"{e.address}/"), loads) for k, e in endpoints.items()}
            # not the page rebuilt per request: each of its 200 chart requests
            # would build the document again (the daemon keeps one for 5 s)
            chromium = browser_ms({k: f"{endpoints[k].address}/" for k in ("before", "after")},
                                  loads)
        finally:
            for e in endpoints.values():
                e.close()
        week = NOW - timedelta(days=DAYS)
        load_before = os.getloadavg()[0]

        def read(since: datetime) -> Callable[[], None]:
            def go() -> None:
                with store.connect() as conn:
                    for name in checks:
                        series(conn, name, since, NOW, 168)
            return go

        old_html = before.render(doc)
        out = {
            "store": "postgresql" if postgres else "sqlite", "checks": CHECKS, "days": DAYS,
            "fill_s": round(fill_s, 1), "loads": loads,
            "html_bytes": {"before": len(old_html.encode()), "after": len(html.encode()),
                           "after_gzip": len(gzip.compress(html.encode(), 5))},
            "document_ms": median_ms(lambda: build_document(store, checks, NOW), loads),
            # the page and, after, its 200 chart images (each its own request)
            "render_ms": {"before": median_ms(lambda: before.render(doc, cold=True), loads),
                          "after": median_ms(lambda: page_and_charts(doc), loads)},
            "document_cpu_ms": cpu_ms(lambda: build_document(store, checks, NOW), loads),
            "document_cached_ms": median_ms(
                lambda: build_document(store, checks, NOW, cache=cache), loads),
            "document_cached_cpu_ms": cpu_ms(
                lambda: build_document(store, checks, NOW, cache=cache), loads),
            "render_cpu_ms": cpu_ms(lambda: page_and_charts(doc), loads),
            "render_cached_ms": median_ms(lambda: page_and_charts(doc, charts.svg), loads),
            "render_cached_cpu_ms": cpu_ms(lambda: page_and_charts(doc, charts.svg), loads),
            # request to last byte on the daemon's endpoint (httpx asks for gzip)
            "get_ms": get,
            # [responseEnd, domContentLoaded, loadEventEnd, all charts drawn]
            # from navigation start
            "chromium_ms": chromium, "load_average_at_browser": round(load_at_browser, 1),
            # hourly rows vs merging 5-minute rows (a window not on the hour forces it)
            "series_hourly_ms": median_ms(read(week), 5),
            "series_merged_5min_ms": median_ms(read(week + timedelta(minutes=5)), 5),
            "cpus": os.cpu_count(), "load_average": round(load_before, 1),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
