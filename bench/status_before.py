"""The status page as it was before the speed work (commit BEFORE), served
beside today's in one run by bench/status_page.py: its page and chart
modules and its stylesheet are read from git, the document built and drawn
for every request, nothing gzipped (what the daemon did then)."""

from __future__ import annotations

import subprocess
import types
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from billing_monitor.daemon.status_http import HTML, SECURITY, Answer

BEFORE = "f07ed92"  # main when the speed work began
ROOT = Path(__file__).resolve().parent.parent


def _source(path: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _module(path: str) -> types.ModuleType:
    module = types.ModuleType(f"before_{Path(path).stem}")
    exec(compile(_source(path), f"{BEFORE}:{path}", "exec"), module.__dict__)
    return module


class BeforePages:
    """`/` and its stylesheet as commit BEFORE served them."""

    paths = frozenset({"/", "/static/status.css", "/favicon.ico"})

    def __init__(self, document: Callable[[], dict[str, Any]],
                 clock: Callable[[], datetime]) -> None:
        self._document = document
        self._clock = clock
        page, chart = _module("monitor/daemon/page.py"), _module("monitor/daemon/chart.py")
        self._render, self._svg, self._charts = page.render_page, chart.svg_chart, \
            chart.ChartCache()
        self._css = _source("monitor/daemon/static/status.css").encode()

    def render(self, doc: dict[str, Any], cold: bool = False) -> str:
        """As served (charts kept between requests), or `cold`: every chart drawn."""
        draw = self._svg if cold else self._charts.svg
        return str(self._render(doc, self._clock(), draw))

    def answer(self, path: str, headers: Mapping[str, str]) -> Answer | None:
        if path not in self.paths:
            return None
        if path == "/favicon.ico":
            return 204, HTML, b"", SECURITY
        if path == "/static/status.css":
            return 200, "text/css; charset=utf-8", self._css, SECURITY
        return 200, HTML, self.render(self._document()).encode(), SECURITY
