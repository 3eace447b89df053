"""The state store's schema: created, versioned and upgraded automatically,
on a real SQLite file and on PostgreSQL; and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select

from billing_monitor.alerting.migrations import LATEST, current_version, migrate
from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import schema_version
from billing_monitor.checks.errors import ConfigError
from billing_monitor.settings.load import parse_settings
from tests.alerting_support import state_url

__all__ = ["state_url"]  # fixture

TABLES = {"schema_version", "check_runs", "alerts", "outbox", "silences", "measurements"}


def test_a_new_store_is_created_at_the_latest_version(state_url: str) -> None:
    engine = open_state(state_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [LATEST]
    engine.dispose()


def test_an_old_store_is_upgraded_in_order_and_reopening_is_a_no_op(state_url: str) -> None:
    engine = create_engine(state_url)
    assert migrate(engine, upto=1) == 1
    assert "silences" not in inspect(engine).get_table_names()
    engine.dispose()
    engine = open_state(state_url)  # start-up upgrades v1 -> latest
    assert "silences" in inspect(engine).get_table_names()
    assert migrate(engine) == LATEST
    with engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [LATEST]
    engine.dispose()


def test_v8_adds_the_lease_start_to_a_v7_store(state_url: str) -> None:
    """A store at v7 made by the monitor of then: leader_lease without acquired_at."""
    engine = open_state(state_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE leader_lease DROP COLUMN acquired_at")
        conn.execute(schema_version.update().values(version=7))
    assert "acquired_at" not in {c["name"] for c in inspect(engine).get_columns("leader_lease")}
    assert migrate(engine) == LATEST == 8
    assert "acquired_at" in {c["name"] for c in inspect(engine).get_columns("leader_lease")}
    engine.dispose()


def test_a_store_from_a_newer_monitor_is_refused(state_url: str) -> None:
    engine = open_state(state_url)
    with engine.begin() as conn:
        conn.execute(schema_version.update().values(version=LATEST + 1))
        assert current_version(conn) == LATEST + 1
    with pytest.raises(RuntimeError, match="newer than this monitor"):
        migrate(engine)
    engine.dispose()


RAW = {"checks": {"unbilled_orders": {"thresholds": {"critical": 10}}}}


def test_state_url_is_relative_to_the_config_file_and_env_overrides(tmp_path: Path) -> None:
    s = parse_settings(dict(RAW), "f.toml", {}, base=tmp_path)
    assert s.state.url == f"sqlite:///{tmp_path / 'billing-monitor-state.db'}"
    env = {"BILLING_MONITOR_STATE_URL": "postgresql+psycopg://monitor@db/state"}
    assert parse_settings(dict(RAW), "f.toml", env, base=tmp_path).state.url == env[
        "BILLING_MONITOR_STATE_URL"]
    with pytest.raises(ConfigError, match="BILLING_MONITOR_STATE_URL: not a database URL"):
        parse_settings(dict(RAW), "f.toml", {"BILLING_MONITOR_STATE_URL": "nope"})


def test_alert_and_outbox_and_silence_settings_are_validated() -> None:
    raw = {
        "checks": {"unbilled_orders": {"alert": {"trigger_after": 0}}},
        "outbox": {"max_attempts": 0},
        "silences": [{"check": "nope", "start": "x", "end": "y", "reason": "r"}],
    }
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, "f.toml", {})
    text = "\n".join(err.value.problems)
    assert "f.toml: checks.unbilled_orders.alert.trigger_after:" in text
    assert "f.toml: outbox.max_attempts:" in text
    assert "f.toml: silences.0.start:" in text
    raw = {**RAW, "silences": [{"check": "nope", "start": "2026-11-20T22:00:00Z",
                                "end": "2026-11-21T02:00:00Z", "reason": "migration"}]}
    with pytest.raises(ConfigError, match=r"silences\.0\.check: no check named 'nope'"):
        parse_settings(raw, "f.toml", {})


def test_the_example_config_documents_state_outbox_and_alert_policy() -> None:
    from billing_monitor.settings.load import load_settings

    path = Path(__file__).resolve().parents[1] / "config" / "billing-monitor.toml"
    s = load_settings(path, env={})
    assert s.state.url == f"sqlite:///{path.parent / 'billing-monitor-state.db'}"
    assert s.outbox.max_attempts == 20 and s.outbox.drain_seconds == 20
    alert = s.checks["unbilled_orders"].alert
    assert (alert.trigger_after, alert.recovery, alert.period_scoped) == (2, 5, True)
