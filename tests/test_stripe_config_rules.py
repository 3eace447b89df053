"""The Stripe checks' SQL and store follow the same rules as every other
check's (issue 9's follow-ups), and `[state] owner` survives the settings'
path resolution (issue 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_monitor.settings.load import load_settings
from tests.helpers import cli

pytestmark = pytest.mark.clock  # starts the real process

KEY = {"STRIPE_API_KEY": "rk_test_ReadOnlyKeyForTheConfigRules"}


def _validate(tmp_path: Path, body: str) -> tuple[int, str]:
    cfg = tmp_path / "bm.toml"
    cfg.write_text(body)
    r = cli("--config", str(cfg), "validate", env=KEY)
    return r.returncode, r.stderr


@pytest.mark.parametrize("query", [
    "COMMIT; DELETE FROM billing_records",
    "DELETE FROM billing_records WHERE billed_at >= :since AND billed_at < :until",
    "SELECT stripe_payment_intent_id INTO copy FROM billing_records",
])
def test_a_reconciliation_query_that_could_write_is_refused_at_load(
    tmp_path: Path, query: str,
) -> None:
    code, err = _validate(tmp_path, f'[checks.r]\ntype = "stripe_reconciliation"\n'
                                    f'query = "{query}"\n')
    assert code == 78, err
    assert "bm.toml: checks.r.query:" in err and "Traceback" not in err


def test_a_stripe_state_url_with_an_unknown_driver_is_refused(tmp_path: Path) -> None:
    code, err = _validate(tmp_path, '[stripe]\nstate_url = "mysql+nosuchdriver://x@y/z"\n'
                                    '[checks.p]\ntype = "payment_failure_rate"\n')
    assert code == 78
    assert "bm.toml: stripe.state_url: unknown database driver" in err


def test_the_state_owner_is_kept_when_the_store_path_is_resolved(tmp_path: Path) -> None:
    cfg = tmp_path / "bm.toml"
    cfg.write_text('[state]\nurl = "sqlite:///state.db"\nowner = "monitor-eu"\n'
                   '[checks.x]\ntype = "sql"\nquery = "SELECT 1"\n')
    settings = load_settings(cfg, {})
    assert settings.state.url == f"sqlite:///{tmp_path / 'state.db'}"
    assert settings.state.owner == "monitor-eu"
