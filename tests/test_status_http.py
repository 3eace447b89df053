"""`/`, `/api/status` and `/static/status.css` on the daemon's real HTTP
endpoint (monitor/daemon/status_http.py): headers, the same document as JSON,
and who may read them (loopback open; a token or basic auth when one is set;
nobody beyond loopback without one). The token never appears in an answer."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_monitor.alerting.store import open_state
from billing_monitor.daemon.http import HttpEndpoint
from billing_monitor.daemon.status_http import Auth, Rendered, StatusPages
from tests.status_support import NOW, document, populate, validate

TOKEN = "s3cret-status-token-0123456789"


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = open_state(f"sqlite:///{tmp_path_factory.mktemp('s') / 'state.db'}")
    try:
        return document(store, populate(store))
    finally:
        store.dispose()


def serve(doc: dict[str, Any] | None, auth: Auth) -> Iterator[str]:
    endpoint = HttpEndpoint("127.0.0.1", 0, lambda: b"", lambda: (True, {}),
                            pages=StatusPages(lambda: doc, auth, lambda: NOW))
    endpoint.start()
    try:
        yield endpoint.address
    finally:
        endpoint.close()


@pytest.fixture
def open_url(doc: dict[str, Any]) -> Iterator[str]:
    yield from serve(doc, Auth(None, loopback=True))


@pytest.fixture
def token_url(doc: dict[str, Any]) -> Iterator[str]:
    yield from serve(doc, Auth(TOKEN, loopback=True))


def test_the_page_the_api_and_the_stylesheet_with_their_headers(
        open_url: str, doc: dict[str, Any]) -> None:
    page = httpx.get(f"{open_url}/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "unbilled_orders" in page.text and 'src="/chart/unbilled_orders.svg"' in page.text
    chart = httpx.get(f"{open_url}/chart/unbilled_orders.svg")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert chart.headers["content-security-policy"] == csp and chart.text.startswith("<svg")
    assert "unbilled_orders: values over 7 days" in chart.text
    for missing in ("never_ran", "nope", "..%2Fstate"):  # nothing to draw / no such check
        assert httpx.get(f"{open_url}/chart/{missing}.svg").status_code == 404
    api = httpx.get(f"{open_url}/api/status")
    assert api.headers["content-type"] == "application/json"
    assert api.json() == doc
    validate(api.json())
    css = httpx.get(f"{open_url}/static/status.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8" and ".badge" in css.text
    assert httpx.get(f"{open_url}/metrics").status_code == 200  # the endpoint's own, as before
    assert httpx.get(f"{open_url}/nope").status_code == 404


def test_with_a_token_every_status_route_asks_for_it(token_url: str) -> None:
    for path in ("/", "/api/status", "/static/status.css", "/chart/unbilled_orders.svg"):
        r = httpx.get(f"{token_url}{path}")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert TOKEN not in r.text
    bearer = httpx.get(f"{token_url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200 and TOKEN not in bearer.text
    basic = httpx.get(f"{token_url}/", auth=("oncall", TOKEN))
    assert basic.status_code == 200 and TOKEN not in basic.text
    for wrong in (f"Bearer {TOKEN}x", "Bearer", f"Basic {TOKEN}", "Basic !!!",
                  "Basic " + base64.b64encode(b"oncall:nope").decode(), f"Token {TOKEN}"):
        assert httpx.get(f"{token_url}/", headers={"Authorization": wrong}).status_code == 401


def test_a_user_and_password_token_is_a_basic_auth_pair() -> None:
    auth = Auth("oncall:pa55word-long", loopback=False)
    good = "Basic " + base64.b64encode(b"oncall:pa55word-long").decode()
    other = "Basic " + base64.b64encode(b"someone:pa55word-long").decode()
    assert auth.allows(good) and not auth.allows(other) and not auth.allows(None)
    assert not auth.refuse_all


def test_beyond_loopback_without_a_credential_nobody_reads_it(doc: dict[str, Any]) -> None:
    auth = Auth(None, loopback=False)
    assert auth.refuse_all and not auth.allows(f"Bearer {TOKEN}")
    for url in serve(doc, auth):
        for path in ("/api/status", "/chart/unbilled_orders.svg"):
            r = httpx.get(f"{url}{path}")
            assert r.status_code == 403 and "BILLING_MONITOR_STATUS_TOKEN" in r.text


def test_without_a_state_store_the_status_is_unknown_not_an_error() -> None:
    for url in serve(None, Auth(None, loopback=True)):
        r = httpx.get(f"{url}/api/status")
        assert r.status_code == 503 and "no state store" in r.text
        assert httpx.get(f"{url}/static/status.css").status_code == 200


def test_the_schema_refuses_a_document_that_breaks_it(doc: dict[str, Any]) -> None:
    from jsonschema import ValidationError

    broken = json.loads(json.dumps(doc))
    broken["checks"][0]["status"] = "FINE"
    with pytest.raises(ValidationError, match="FINE"):
        validate(broken)
    assert Path("docs/status.schema.json").exists()


def test_one_document_serves_every_request_for_max_age_then_is_built_again(
        doc: dict[str, Any]) -> None:
    builds: list[int] = []
    clock = [100.0]

    def build() -> dict[str, Any]:
        builds.append(1)
        return {**doc, "overall": f"build {len(builds)}"}

    rendered = Rendered(build, lambda: NOW, max_age=5.0, monotonic=lambda: clock[0])
    first = rendered.body("/api/status")
    clock[0] += 4.9
    assert rendered.body("/api/status") is first and len(builds) == 1  # no build
    assert rendered.body("/") is not None and len(builds) == 1  # the same document's page
    clock[0] += 0.1
    again = rendered.body("/api/status")
    assert len(builds) == 2 and again is not None and first is not None
    assert json.loads(first)["overall"] == "build 1"
    assert json.loads(again)["overall"] == "build 2"
    assert gzip.decompress(rendered.body("/api/status", zipped=True) or b"") == again
    page = rendered.body("/")
    assert page is not None and gzip.decompress(rendered.body("/", zipped=True) or b"") == page
    assert len(builds) == 2


def test_gzip_only_to_a_client_that_accepts_it(open_url: str, doc: dict[str, Any]) -> None:
    zipped = httpx.get(f"{open_url}/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and "unbilled_orders" in zipped.text
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(zipped.text.encode()) / 3
    for refused in ("identity", "gzip;q=0", "br"):
        plain = httpx.get(f"{open_url}/api/status", headers={"Accept-Encoding": refused})
        assert "content-encoding" not in plain.headers and plain.json() == doc
