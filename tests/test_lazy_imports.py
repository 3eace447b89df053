"""A command imports what it uses when it runs (issue 10; the CPU figures are
in docs/benchmarks.md section 8): `--version`, `--help` and a usage error load
none of the heavy libraries, and loading the settings does not load Stripe's
client library. Each case runs in a fresh interpreter, as a user's would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "pydantic", "stripe", "datadog", "httpx", "pagerduty", "apscheduler",
         "prometheus_client", "structlog", "psycopg", "sqlparse")


def loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print(__import__('json').dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["no-such-command"]])
def test_the_cli_without_a_command_to_run_loads_no_heavy_library(argv: list[str]) -> None:
    code = ("from billing_monitor.commands.cli import main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()), "
            "contextlib.redirect_stderr(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    assert loaded_after(code) == []


def test_the_settings_load_without_stripes_library() -> None:
    assert "stripe" not in loaded_after("import billing_monitor.settings.load")


def test_a_stripe_client_still_loads_it_when_built() -> None:
    code = ("from billing_monitor.checks.stripe.client import build_stripe_api\n"
            "from billing_monitor.checks.stripe.config import StripeSection\n"
            "build_stripe_api(StripeSection(), {'STRIPE_API_KEY': 'rk_test_x'})")
    assert "stripe" in loaded_after(code)


def test_the_grammar_spells_out_what_the_commands_accept() -> None:
    """parser.py spells out two lists so that parsing imports neither module."""
    from billing_monitor.alerts.routing import ALIASES
    from billing_monitor.commands.parser import ROUTE_SEVERITIES, TEST_ALERT_TARGETS
    from billing_monitor.commands.send_test import TARGETS

    assert tuple(sorted(ALIASES)) == ROUTE_SEVERITIES
    assert TEST_ALERT_TARGETS == TARGETS


def test_the_dogstatsd_client_loads_without_datadogs_http_api_client() -> None:
    # datadog/__init__.py imports its HTTP API client and requests (+14 MiB
    # RSS in the daemon); the sink needs only datadog.dogstatsd.
    probe = ("import sys\n"
             "from billing_monitor.alerts.statsd import make_client\n"
             "client = make_client('127.0.0.1', 8125, None)\n"
             "client.gauge('x', 1.0)\n"
             "print(type(client).__module__, 'requests' in sys.modules, "
             "'datadog.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["datadog.dogstatsd.base", "False", "False"]
