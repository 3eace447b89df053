"""Routing as a user meets it: the documented example's routing block,
uncommented, validates and prints its routing table; `route` shows where an
alert goes; a receiver's secret comes from its variable or a systemd
credential and is never printed; mistakes are exit 78 naming file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml"
SECRETS = {"PAGERDUTY_ROUTING_KEY": "BuiltInDefaultKey0123456789abcde",
           "PAGERDUTY_PAYMENTS_KEY": "PaymentsOncallKey0123456789abcde",
           "TEAMS_INVOICING_URL": "https://teams.example.com/workflows/1/invoke?sig=TeamsSig0123",
           "SMTP_PASSWORD": "smtp-pass-Secret-42", "ONCALL_HOOK_KEY": "hook-signing-Key-0042"}


def routed_example(tmp_path: Path, edit: tuple[str, str] = ("", "")) -> Path:
    text = EXAMPLE.read_text()
    head, _, rest = text.partition("# --- Routing")
    block, _, tail = rest.partition("[liveness]")
    lines = block.splitlines()[1:]
    uncommented = "\n".join(line if line.startswith("##") else line.removeprefix("#").strip()
                            for line in lines)
    cfg = tmp_path / "routed.toml"
    cfg.write_text((head + uncommented + "\n[liveness]" + tail).replace(*edit))
    return cfg


def test_the_commented_routing_example_validates_and_prints_its_table(tmp_path: Path) -> None:
    r = cli("--config", str(routed_example(tmp_path)), "validate", env=SECRETS)
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("Routing (first match wins unless continue):\n")[1].splitlines()
    assert table[0].split() == ["#", "name", "checks", "types", "tags", "severities",
                                "receivers", "continue"]
    assert table[1].split()[:4] == ["1", "payments", "criticals",
                                    "failed_charges,missing_billing_records"]
    assert table[-1].split()[:2] == ["*", "default"]
    for secret in SECRETS.values():
        assert secret not in r.stdout + r.stderr
    assert "finance_email    email: smtp://smtp.example.com:587 to finance@example.com" in r.stdout
    j = cli("--config", str(routed_example(tmp_path)), "validate", "--json", env=SECRETS)
    routing = json.loads(j.stdout)["routing"]
    assert [r["receivers"] for r in routing["routes"]] == [
        ["payments_oncall"], ["finance_email"], ["invoicing_teams", "oncall_hook"]]
    assert routing["default"] == ["pagerduty"]


@pytest.mark.parametrize(("check", "severity", "expected"), [
    ("failed_charges", "crit", ["route #1 (payments criticals)", "payments_oncall (pagerduty)"]),
    ("failed_charges", "warn", ["route #3", "invoicing_teams (teams), oncall_hook (webhook)"]),
    ("refunds", "crit", ["the default route", "pagerduty (pagerduty)"]),
])
def test_route_shows_where_an_alert_would_go(tmp_path: Path, check: str, severity: str,
                                            expected: list[str]) -> None:
    r = cli("--config", str(routed_example(tmp_path)), "route", check, "--severity", severity,
            env=SECRETS)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert expected[0] in first and second == f"  -> {expected[1]}"


def test_route_of_an_unknown_check_is_a_usage_error(tmp_path: Path) -> None:
    r = cli("--config", str(routed_example(tmp_path)), "route", "nope", "--severity", "crit",
            env=SECRETS)
    assert r.returncode == 64 and "unknown check 'nope'" in r.stderr


def test_a_missing_receiver_secret_stops_validate_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "SMTP_PASSWORD"}
    r = cli("--config", str(routed_example(tmp_path)), "validate", env=env)
    assert r.returncode == 78
    assert ("environment: SMTP_PASSWORD: required by receivers.finance_email (email); or the "
            "systemd credential smtp_password") in r.stderr


def test_a_built_in_channel_named_by_a_route_must_be_set(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "PAGERDUTY_ROUTING_KEY"}
    r = cli("--config", str(routed_example(tmp_path)), "validate", env=env)
    assert r.returncode == 78
    assert "environment: PAGERDUTY_ROUTING_KEY: required by the routes" in r.stderr


def test_a_receiver_secret_from_a_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smtp_password").write_text("from-credential-pw-77\n")
    env = {k: v for k, v in SECRETS.items() if k != "SMTP_PASSWORD"}
    r = cli("--config", str(routed_example(tmp_path)), "validate",
            env={**env, "CREDENTIALS_DIRECTORY": str(creds)})
    assert r.returncode == 0, r.stderr
    assert "from-credential-pw-77" not in r.stdout + r.stderr


@pytest.mark.parametrize(("edit", "error"), [
    (('receivers = ["finance_email"]', 'receivers = ["finance"]'),
     "routes.1.receivers (route #2): unknown receiver 'finance'"),
    (('receivers = ["invoicing_teams", "oncall_hook"]', 'receivers = ["invoicing_teams"]'),
     "receivers.oncall_hook: referenced by no route"),
    (('kind = "teams"', 'kind = "msteams"'), "receivers.invoicing_teams"),
    (('severities = ["critical"]', 'severities = ["crit"]'), "routes.0.severities.0"),
])
def test_routing_mistakes_are_configuration_errors_naming_the_key(
        tmp_path: Path, edit: tuple[str, str], error: str) -> None:
    cfg = routed_example(tmp_path, edit)
    r = cli("--config", str(cfg), "validate", env=SECRETS)
    assert r.returncode == 78, r.stdout
    assert f"{cfg}: " in r.stderr and error in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_malformed_receiver_url_is_named_not_shown(tmp_path: Path) -> None:
    env = {**SECRETS, "TEAMS_INVOICING_URL": "https://teams.example.com/x?sig=Abc\r\nX: y"}
    r = cli("--config", str(routed_example(tmp_path)), "validate", env=env)
    assert r.returncode == 78
    assert "TEAMS_INVOICING_URL (receivers.invoicing_teams): holds a space or control" in r.stderr
    assert "sig=Abc" not in r.stderr
