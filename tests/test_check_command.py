"""`billing-monitor check` as cron runs it: liveness pings around the run, and
no secret in anything it prints or sends, even when a driver echoes one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests import clock
from tests.helpers import cli, demo_db, live_demo_db
from tests.peers.http_services import HealthchecksPeer
from tests.peers.statsd import UdpListener

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks


def _config(tmp_path: Path, checks: str, live: bool = False) -> Path:
    """`live`: the demo week for the clock the process reads (else a fixed one)."""
    db = live_demo_db(tmp_path) if live else demo_db(tmp_path)
    path = tmp_path / "bm.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{db}"\n{checks}')
    return path


def test_pings_start_then_success_with_one_run_id(
    tmp_path: Path, healthchecks_peer: HealthchecksPeer, statsd: UdpListener
) -> None:
    cfg = _config(tmp_path, "[checks.unbilled_orders]\n", live=True)
    env = {"BILLING_MONITOR_PING_URL": healthchecks_peer.ping_url,
           "DD_DOGSTATSD_PORT": str(statsd.port)}
    r = cli("--config", str(cfg), "check", env=env)
    assert r.returncode == 2, r.stderr  # critical billing is a successful monitor run
    kinds = [(p.kind, p.rid) for p in healthchecks_peer.pings]
    assert [k for k, _ in kinds] == ["start", "success"]
    assert kinds[0][1] == kinds[1][1] is not None
    assert healthchecks_peer.check_uuid not in r.stdout + r.stderr


def test_a_check_that_cannot_run_pings_fail_with_the_error(
    tmp_path: Path, healthchecks_peer: HealthchecksPeer
) -> None:
    cfg = _config(tmp_path, '[statsd]\nenabled = false\n[checks.broken]\ntype = "sql"\n'
                  'query = "SELECT COUNT(*) FROM nowhere"\n')
    r = cli("--config", str(cfg), "check",
            env={"BILLING_MONITOR_PING_URL": healthchecks_peer.ping_url})
    assert r.returncode == 3
    assert [p.kind for p in healthchecks_peer.pings] == ["start", "fail"]
    assert "no such table: nowhere" in healthchecks_peer.pings[1].body


def test_an_echoed_secret_is_scrubbed_everywhere(tmp_path: Path, statsd: UdpListener) -> None:
    secret = "sk_test_51EchoedByTheDriver0000"
    cfg = _config(tmp_path, f'[checks.leaky]\ntype = "sql"\nquery = "SELECT * FROM {secret}"\n')
    r = cli("--config", str(cfg), "--log-level", "DEBUG", "check", "--json",
            env={"STRIPE_API_KEY": secret, "DD_DOGSTATSD_PORT": str(statsd.port)})
    assert r.returncode == 3
    sent = "\n".join(statsd.receive(3))
    assert "no such table: [REDACTED]" in r.stdout
    assert "[REDACTED]" in sent
    for text in (r.stdout, r.stderr, sent):
        assert secret not in text


def test_a_missing_stripe_key_fails_validate_but_not_a_sql_check(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "[statsd]\nenabled = false\n[checks.unbilled_orders]\n"
                  "[checks.payment_failure_rate]\n", live=True)
    r = cli("--config", str(cfg), "validate")
    assert r.returncode == 78
    assert "STRIPE_API_KEY: required by the Stripe checks (payment_failure_rate)" in r.stderr
    # The on-call engineer can still rerun a SQL check by hand without it.
    r = cli("--config", str(cfg), "check", "unbilled_orders", "--json")
    assert r.returncode == 2, r.stderr  # this week's 14 unbilled orders
    # All checks need it, as the daemon does.
    assert cli("--config", str(cfg), "check").returncode == 78


def test_the_process_reads_the_clock_the_tests_build_data_for(tmp_path: Path) -> None:
    """Under CI's shifted clocks this proves libfaketime reached the product:
    otherwise the shifted passes would test today's date again."""
    cfg = _config(tmp_path, '[statsd]\nenabled = false\n[checks.n]\ntype = "sql"\n'
                  'query = "SELECT 1"\n')
    before = clock.now()
    r = cli("--config", str(cfg), "check", "--json")
    after = clock.now()
    assert r.returncode == 0, r.stderr
    started = datetime.fromisoformat(json.loads(r.stdout)["results"][0]["started_at"])
    assert before - timedelta(seconds=2) <= started <= after + timedelta(seconds=2)
