"""`billing-monitor validate` and the documented example configuration, as a
user runs them: a subprocess, exit codes, nothing secret printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.test_cli import CONFIG, _config

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks


def test_validate_summarises_checks_and_sinks_without_password(tmp_path: Path) -> None:
    cfg = _config(tmp_path, CONFIG, "postgresql://monitor:s3cr3t-pw@db.internal/billing")
    r = cli("--config", str(cfg), "validate", env={"DD_AGENT_HOST": "agent.local"})
    assert r.returncode == 0, r.stderr
    assert "s3cr3t-pw" not in r.stdout + r.stderr
    assert "postgresql://monitor:***@db.internal/billing" in r.stdout
    assert "udp://agent.local:8125" in r.stdout
    for name in ("unbilled_orders", "missing_billing_records", "failed_charges"):
        assert name in r.stdout
    assert "crit > 10" in r.stdout


def test_config_path_from_environment(tmp_path: Path) -> None:
    cfg = _config(tmp_path, CONFIG, "sqlite:///x.db")
    r = cli("validate", "--json", env={"BILLING_MONITOR_CONFIG": str(cfg)})
    assert r.returncode == 0 and json.loads(r.stdout)["config"] == str(cfg)


def test_default_config_path_is_named_when_missing() -> None:
    r = cli("validate")
    assert r.returncode == 78
    assert "/etc/billing-monitor/billing-monitor.toml: configuration file not found" in r.stderr


def test_documented_example_config_validates() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml"
    r = cli("--config", str(example), "validate", "--json")
    assert r.returncode == 0, r.stderr
    assert {c["name"] for c in json.loads(r.stdout)["checks"]} == {
        "unbilled_orders", "missing_billing_records", "failed_charges", "refunds"}


def test_the_commented_stripe_example_validates(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml").read_text()
    head, _, stripe = example.partition("# --- Stripe")
    lines = stripe.splitlines()[1:]
    uncommented = "\n".join(line if line.startswith("##") else line.removeprefix("#").strip()
                            for line in lines)
    cfg = tmp_path / "with-stripe.toml"
    cfg.write_text(head + uncommented)
    r = cli("--config", str(cfg), "validate", "--json",
            env={"STRIPE_API_KEY": "rk_test_ReadOnlyKeyForValidation"})
    assert r.returncode == 0, r.stderr
    names = {c["name"] for c in json.loads(r.stdout)["checks"]}
    assert {"payment_failure_rate", "stuck_payment_intents", "webhook_health",
            "stripe_reconciliation", "payouts_failed", "disputes_opened"} <= names


def test_global_options_may_follow_the_command(tmp_path: Path) -> None:
    cfg = _config(tmp_path, CONFIG, "sqlite:///x.db")
    for argv in (("validate", "--config", str(cfg)), ("validate", f"--config={cfg}", "--json"),
                 ("validate", "--log-level", "DEBUG", "--config", str(cfg))):
        r = cli(*argv)
        assert r.returncode == 0, (argv, r.stderr)


def test_a_reader_that_leaves_early_is_not_an_internal_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = _config(tmp_path, CONFIG, "sqlite:///x.db")
    exe = Path(sys.executable).parent / "billing-monitor"
    proc = subprocess.Popen([str(exe), "--config", str(cfg), "validate"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "internal error" not in err and "Traceback" not in err


def test_the_example_config_documents_every_section_and_key() -> None:
    import tomllib

    from billing_monitor.settings.model import Settings

    text = (Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml").read_text()
    active = tomllib.loads(text)
    for name, field in Settings.model_fields.items():
        if name in ("checks", "source"):
            continue
        assert f"[{name}]" in text or f"[[{name}]]" in text, f"[{name}] is not in the example"
        model = field.annotation
        if name in active and isinstance(model, type) and hasattr(model, "model_fields"):
            for key in model.model_fields:
                assert key in text, f"[{name}].{key} is not documented in the example"

