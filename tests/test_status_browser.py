"""The status page in a real headless Chromium (tests/browser.py), served by
the daemon's real HTTP endpoint: a failing, a silenced and an unknown check
each shown as such, the charts with their points and threshold lines, the
stylesheet applied under the page's CSP with nothing refused, a stale page
saying so; and a screenshot written for people to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.alerting.store import open_state
from billing_monitor.daemon.http import HttpEndpoint
from billing_monitor.daemon.status_http import Auth, StatusPages
from tests import browser
from tests.status_support import NOW, document, path_points, populate


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if not browser.available():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {browser.MISSING}")
        pytest.skip(browser.MISSING)
    with browser.chromium() as d:
        yield d


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = open_state(f"sqlite:///{tmp_path_factory.mktemp('s') / 'state.db'}")
    try:
        return document(store, populate(store))
    finally:
        store.dispose()


def serve(doc: dict[str, Any], served_at: Any = NOW) -> HttpEndpoint:
    endpoint = HttpEndpoint("127.0.0.1", 0, lambda: b"", lambda: (True, {}),
                            pages=StatusPages(lambda: doc, Auth(None, True), lambda: served_at))
    endpoint.start()
    return endpoint


@pytest.fixture(scope="module")
def served(doc: dict[str, Any]) -> Iterator[str]:
    # The page reloads itself every refresh_seconds (30): a reload landing
    # between two of a test's look-ups on a loaded machine would leave the
    # second with no document. This module's page is held still; the meta
    # refresh itself is tested in test_status_page.py.
    endpoint = serve({**doc, "refresh_seconds": 3600})
    try:
        yield f"{endpoint.address}/"
    finally:
        endpoint.close()


@pytest.fixture
def page(driver: Any, served: str) -> Any:
    """A fresh load for each test: the driver is shared with tests that open
    other pages (in any order: pytest-randomly), and the stale banner's 120 s
    timer starts at each load."""
    driver.get(served)
    return driver


def row(driver: Any, check: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"check-{check}")


def shown(driver: Any, check: str) -> str:
    """The row's text as the browser renders it, whitespace folded."""
    return " ".join(row(driver, check).text.split())


def test_each_kind_of_check_is_shown_as_what_it_is(page: Any) -> None:
    assert page.title == "Critical \u2013 billing monitor"
    failing, silenced = shown(page, "unbilled_orders"), shown(page, "refunds_pending")
    unknown, ok = shown(page, "stripe_sync"), shown(page, "invoices_sent")
    assert failing.startswith("\u2716 Critical unbilled_orders \u2716 Critical unbilled_orders "
                              "= 25 (warn > 5, crit > 10)")
    assert "silenced" not in failing
    assert silenced.startswith("\u2716 Critical \u2298 silenced refunds_pending")
    assert unknown.startswith("? Unknown stripe_sync OperationalError: refused")
    assert ok.startswith("\u2713 OK invoices_sent \u2713 OK invoices_sent = 1")
    body = page.find_element("tag name", "body").text
    assert "slack: delivered" in body and "billing/unbilled_orders/2026-W47" in body


def test_the_stylesheet_is_applied_and_the_csp_refused_nothing(page: Any) -> None:
    badge = row(page, "unbilled_orders").find_element("css selector", ".badge.crit")
    assert badge.value_of_css_property("background-color") == "rgba(207, 34, 46, 1)"
    stale = page.find_element("css selector", "p.stale")
    assert not stale.is_displayed()  # fresh: the stylesheet's timer has not fired
    refused = [e["message"] for e in page.get_log("browser")
               if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"]
    assert refused == []


def test_the_charts_have_points_and_threshold_lines(page: Any) -> None:
    imgs = page.find_elements("css selector", "img.chart")
    assert len(imgs) == 4
    srcs = [img.get_attribute("src") for img in imgs]
    browser.load_images(page)  # lazy: fetched once scrolled to; here all at once
    for img in imgs:  # drawn by the browser from the endpoint, the CSP allowing it
        assert img.get_property("naturalWidth") == 600 and img.size["width"] > 300
    for src in srcs:  # each chart's own document
        page.get(src)
        line = page.find_element("css selector", "path.line")
        assert path_points(line.get_attribute("d")) == 168
        assert line.size["width"] > 300  # drawn across the plot
        limits = page.find_elements("css selector", "path.limit")
        assert [x.get_attribute("class") for x in limits] == ["limit warning", "limit critical"]
        assert all(x.is_displayed() and x.size["width"] > 300 for x in limits)
        dashes = [x.value_of_css_property("stroke-dasharray") for x in limits]
        assert dashes[0] != dashes[1] and "none" not in dashes  # told apart without colour
    refused = [e["message"] for e in page.get_log("browser")
               if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"]
    assert refused == []


def test_a_stale_page_says_so_in_the_browser(driver: Any, doc: dict[str, Any]) -> None:
    endpoint = serve(doc, served_at=NOW + timedelta(minutes=10))
    try:
        driver.get(f"{endpoint.address}/")
        stale = driver.find_element("css selector", "p.stale")
        assert stale.is_displayed() and "This page is stale" in stale.text
    finally:
        endpoint.close()


def test_a_screenshot_is_written(page: Any, tmp_path: Path) -> None:
    shot = tmp_path / "status-page.png"
    browser.full_page_screenshot(page, shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
