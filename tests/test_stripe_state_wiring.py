"""Stripe cursors live in the alert state store unless told otherwise, and a
relative SQLite path is relative to the config file."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, inspect

from billing_monitor.checking.services import AppServices
from billing_monitor.settings.load import load_settings


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "conf" / "bm.toml"
    path.parent.mkdir()
    path.write_text(f'[state]\nurl = "sqlite:///state.db"\n{extra}\n'
                    "[checks.payment_failure_rate]\n")
    return path


def test_cursors_share_the_state_store_by_default(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path), {})
    services = AppServices(settings, os.environ)
    services.stripe_cursors()
    services.close()
    state = tmp_path / "conf" / "state.db"
    tables = set(inspect(create_engine(f"sqlite:///{state}")).get_table_names())
    assert {"alerts", "outbox", "schema_version"} <= tables
    assert any(t.startswith("stripe_") for t in tables)


def test_an_own_stripe_state_url_is_relative_to_the_config(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, '[stripe]\nstate_url = "sqlite:///s.db"'), {})
    assert settings.stripe.state_url == f"sqlite:///{tmp_path / 'conf' / 's.db'}"


def test_under_systemd_state_goes_to_the_state_directory(tmp_path: Path) -> None:
    state_dir = tmp_path / "var-lib"
    settings = load_settings(_config(tmp_path), {"STATE_DIRECTORY": f"{state_dir}:/other"})
    assert settings.state.url == f"sqlite:///{state_dir / 'state.db'}"
    # The billing database is the application's, never under our state directory.
    assert "var-lib" not in settings.database.url
