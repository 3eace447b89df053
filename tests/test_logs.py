"""Structured logs: JSON or key=value, and no secret ever rendered."""

from __future__ import annotations

import io
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_monitor.logs import REDACTED, Redactor, configure, resolve_format
from billing_monitor.settings.credentials import SECRET_ENV, load_credentials, secret_values

SECRETS = {
    "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0123456789abcdef012345",
    "STRIPE_API_KEY": "sk_test_51FAKEfakeFAKEfake",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/TFAKE/BFAKE/XXXXsecretXXXX",
    "GOOGLE_CHAT_WEBHOOK_URL": "https://chat.googleapis.invalid/v1/spaces/AAA/messages?key=K3Y&token=T0K",
    "BILLING_MONITOR_DATABASE_URL": "postgresql://monitor:db-pa55word@db.internal/billing",
    "BILLING_MONITOR_PING_URL": "https://hc-ping.invalid/5f0b1c9e-secret-uuid",
    "BILLING_MONITOR_HEARTBEAT_URL": "https://hc-ping.invalid/77aa01d2-heartbeat-uuid",
    "BILLING_MONITOR_STATE_URL": "postgresql://state:st4te-pa55word@db.internal/state",
    "BILLING_MONITOR_STATUS_TOKEN": "status-page-t0ken-0123456789",
}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, threading.excepthook
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    threading.excepthook = hook
    logging.captureWarnings(False)


def test_format_auto_is_json_under_journald_or_without_a_terminal() -> None:
    assert resolve_format("auto", Tty(), {}) == "console"
    assert resolve_format("auto", Tty(), {"JOURNAL_STREAM": "8:1234"}) == "json"
    assert resolve_format("auto", io.StringIO(), {}) == "json"
    assert resolve_format("console", io.StringIO(), {"JOURNAL_STREAM": "8:1"}) == "console"


def test_json_lines_carry_the_extra_fields(restore_logging: None) -> None:
    out = io.StringIO()
    configure("json", "INFO", [], stream=out, env={})
    logging.getLogger("billing_monitor.daemon").info(
        "check %s %s", "unbilled_orders", "CRIT",
        extra={"check": "unbilled_orders", "status": "CRIT", "duration_s": 0.01,
               "values": {"unbilled_orders": 14.0}})
    line = json.loads(out.getvalue().strip())
    assert line["event"] == "check unbilled_orders CRIT" and line["level"] == "info"
    assert line["values"] == {"unbilled_orders": 14.0} and line["duration_s"] == 0.01


def test_under_journald_lines_carry_a_syslog_priority(restore_logging: None) -> None:
    out = io.StringIO()
    configure("auto", "INFO", [], stream=out, env={"JOURNAL_STREAM": "8:1234"})
    logging.getLogger("billing_monitor").warning("careful")
    logging.getLogger("billing_monitor").info("fine")
    first, second = out.getvalue().splitlines()
    assert first.startswith("<4>{") and json.loads(first[3:])["event"] == "careful"
    assert second.startswith("<6>{")


def test_console_lines_are_readable(restore_logging: None) -> None:
    out = Tty()
    configure("auto", "INFO", [], stream=out, env={})
    logging.getLogger("billing_monitor").info("started", extra={"check": "x"})
    text = out.getvalue()
    assert "started" in text and "check=x" in text and not text.startswith("{")


def test_every_secret_is_scrubbed_from_message_fields_and_tracebacks(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure("json", "DEBUG", secret_values(SECRETS), stream=out, env={})
    log = logging.getLogger("anything.at.all")
    for name, value in SECRETS.items():
        log.warning("%s is %s", name, value, extra={"detail": {"nested": [value]}})
        try:
            raise ValueError(f"bad value {value}")
        except ValueError:
            log.exception("failed")
    log.error("password alone: db-pa55word, and in a URL: https://u:other-pw@example.com/x")
    warnings.warn(f"warning with {SECRETS['STRIPE_API_KEY']}", UserWarning, stacklevel=1)
    text = out.getvalue()
    assert f"warning with {REDACTED}" in text  # the warning went through the redactor
    for value in SECRETS.values():
        assert value not in text
    assert "db-pa55word" not in text and "other-pw" not in text
    assert text.count(REDACTED) >= 3 * len(SECRETS)
    assert "https://***@example.com/x" in text


def test_thread_exceptions_go_through_the_redactor(restore_logging: None) -> None:
    out = io.StringIO()
    configure("json", "INFO", [SECRETS["STRIPE_API_KEY"]], stream=out, env={})

    def boom() -> None:
        raise RuntimeError(SECRETS["STRIPE_API_KEY"])

    t = threading.Thread(target=boom, name="worker")
    t.start()
    t.join()
    assert "uncaught exception in thread worker" in out.getvalue()
    assert SECRETS["STRIPE_API_KEY"] not in out.getvalue()


def test_redactor_leaves_ordinary_text_alone() -> None:
    r = Redactor(["s3cr3t-value"])
    assert r.scrub("check unbilled_orders CRIT") == "check unbilled_orders CRIT"
    assert r.scrub("postgresql://monitor@db/billing") == "postgresql://***@db/billing"


def test_credentials_fill_the_environment_from_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "stripe_api_key").write_text(SECRETS["STRIPE_API_KEY"] + "\n")
    (tmp_path / "pagerduty_routing_key").write_text(SECRETS["PAGERDUTY_ROUTING_KEY"])
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "PAGERDUTY_ROUTING_KEY": "set-by-hand"}
    assert load_credentials(env) == ["STRIPE_API_KEY"]
    assert env["STRIPE_API_KEY"] == SECRETS["STRIPE_API_KEY"]
    assert env["PAGERDUTY_ROUTING_KEY"] == "set-by-hand"
    assert load_credentials({}) == []


def test_secret_values_cover_every_variable_and_url_passwords() -> None:
    values = secret_values(SECRETS)
    assert set(SECRETS.values()) <= set(values) and "db-pa55word" in values
    assert set(SECRETS) == set(SECRET_ENV)
