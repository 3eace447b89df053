"""Regenerate the status page's screenshot in docs/ (README "Status page"):
the page of tests/status_support.py, served by the daemon's real endpoint,
in headless Chromium (tests/browser.py).

    .venv/bin/python -m tests.status_screenshot docs/status-page.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from billing_monitor.alerting.store import open_state
from billing_monitor.daemon.http import HttpEndpoint
from billing_monitor.daemon.status_http import Auth, StatusPages
from tests.browser import MISSING, available, chromium, full_page_screenshot
from tests.status_support import NOW, document, populate


def main(argv: list[str]) -> int:
    """Write the screenshot of the example page to argv[0]."""
    if len(argv) != 1:
        print("usage: python -m tests.status_screenshot OUTPUT.png", file=sys.stderr)
        return 64
    if not available():
        print(MISSING, file=sys.stderr)
        return 69
    with tempfile.TemporaryDirectory() as d:
        store = open_state(f"sqlite:///{Path(d) / 'state.db'}")
        doc = document(store, populate(store))
        store.dispose()
    endpoint = HttpEndpoint("127.0.0.1", 0, lambda: b"", lambda: (True, {}),
                            pages=StatusPages(lambda: doc, Auth(None, True), lambda: NOW))
    endpoint.start()
    try:
        with chromium() as driver:
            driver.get(f"{endpoint.address}/")
            full_page_screenshot(driver, Path(argv[0]))
    finally:
        endpoint.close()
    print(f"wrote {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
