"""Datadog as code: the committed exports are what the config generates (a
staleness check), the generated monitors and dashboard follow the checks'
thresholds (hand-written expectations), and every export is a valid body for
Datadog's API as its official client's models define it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from datadog_api_client import Configuration
from datadog_api_client.exceptions import ApiTypeError
from datadog_api_client.model_utils import OpenApiModel, UnparsedObject, validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.monitor import Monitor

from billing_monitor.commands.cli import run
from billing_monitor.commands.export import dashboard, max_gap_minutes, monitors, window_for, write
from billing_monitor.settings.load import load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "billing-monitor.toml"
COMMITTED = ROOT / "deploy" / "datadog"


def test_committed_exports_are_what_the_config_generates(tmp_path: Path) -> None:
    written = write(load_settings(CONFIG, {}), tmp_path)
    assert [p.name for p in written] == ["dashboard.json", "monitors.json"]
    for path in written:
        assert path.read_text() == (COMMITTED / path.name).read_text(), (
            f"deploy/datadog/{path.name} is stale: run `billing-monitor --config "
            "config/billing-monitor.toml export datadog` and commit the result")


def test_export_command_writes_into_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("DD_ENV", "DD_SERVICE", "BILLING_MONITOR_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert run(["--config", str(CONFIG), "export", "datadog", "--out", str(tmp_path)]) == 0
    assert "dashboard.json" in capsys.readouterr().out
    doc = json.loads((tmp_path / "dashboard.json").read_text())
    assert doc["title"] == "Billing Health Monitor"


def settings_with(checks: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_settings({"monitor": {"service": "payments", "env": "prod"}, "checks": checks},
                          "test.toml", {})


def test_one_monitor_per_check_with_thresholds() -> None:
    s = settings_with({
        "failed_charges": {"schedule": "*/5 * * * *",
                           "thresholds": {"warning": 2, "critical": 10}},
        "low_revenue": {"type": "sql", "query": "SELECT 1", "metric": "revenue",
                        "schedule": "0 9 * * 1-5",
                        "thresholds": {"warning": 500, "critical": 100, "comparator": "<"}},
        "refunds": {"type": "sql", "query": "SELECT 1", "thresholds": {"warning": 20}},
        "gauge_only": {"type": "sql", "query": "SELECT 1"},
    })
    by_name = {m["name"]: m for m in monitors(s)}
    assert sorted(by_name) == ["[Billing] check health", "[Billing] failed_charges",
                               "[Billing] low_revenue", "[Billing] refunds (warning only)"]
    fc = by_name["[Billing] failed_charges"]
    assert fc["query"] == ("min(last_5m):max:billing.failed_charges"
                           "{env:prod,service:payments,check:failed_charges} > 10")
    assert fc["options"]["thresholds"] == {"critical": 10, "warning": 2}
    assert fc["options"]["notify_no_data"] is True and fc["options"]["no_data_timeframe"] == 10
    assert fc["message"].endswith("@pagerduty-payments")
    low = by_name["[Billing] low_revenue"]
    assert low["query"].startswith("max(last_1w):max:billing.revenue{")  # Fri -> Mon gap
    assert low["query"].endswith("< 100")
    refunds = by_name["[Billing] refunds (warning only)"]
    assert refunds["options"]["thresholds"] == {"critical": 20}
    assert "@pagerduty" not in refunds["message"]


def test_the_alert_recovery_level_is_exported_where_datadog_takes_it() -> None:
    s = settings_with({
        "unbilled_orders": {"thresholds": {"warning": 5, "critical": 10},
                            "alert": {"recovery": 3}},
        "failed_charges": {"thresholds": {"warning": 5, "critical": 10},
                           "alert": {"recovery": 8}},
        "low_revenue": {"type": "sql", "query": "SELECT 1", "alert": {"recovery": 700},
                        "thresholds": {"warning": 500, "critical": 100, "comparator": "<"}},
    })
    by_name = {m["name"]: m["options"]["thresholds"] for m in monitors(s)}
    assert by_name["[Billing] unbilled_orders"] == {
        "critical": 10, "warning": 5, "critical_recovery": 3, "warning_recovery": 3}
    # 8 is not below the warning level 5: Datadog would refuse it there.
    assert by_name["[Billing] failed_charges"] == {
        "critical": 10, "warning": 5, "critical_recovery": 8}
    assert by_name["[Billing] low_revenue"] == {
        "critical": 100, "warning": 500, "critical_recovery": 700, "warning_recovery": 700}


def test_dashboard_has_a_week_long_timeseries_per_metric_with_threshold_markers() -> None:
    s = load_settings(CONFIG, {})
    widgets = [w["definition"] for w in dashboard(s)["widgets"]]
    series = {w["title"]: w for w in widgets if w["type"] == "timeseries"}
    unbilled = series["Unbilled Orders"]
    assert unbilled["time"] == {"live_span": "1w"}
    assert unbilled["requests"][0]["q"].startswith("max:billing.unbilled_orders{")
    assert [m["value"] for m in unbilled["markers"]] == ["y = 10"]
    failed = series["Failed Charges"]
    assert [(m["value"], m["display_type"]) for m in failed["markers"]] == [
        ("y = 0", "warning dashed"), ("y = 10", "error dashed")]
    assert {"Refunds", "Check Status (0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN)"} <= set(series)
    behind = series["Oldest Undelivered Notification by Receiver (seconds)"]
    assert behind["requests"][0]["q"] == (
        "max:billing.outbox.receiver.oldest_age_seconds{env:production,service:billing} "
        "by {receiver}")


@pytest.mark.parametrize(("schedule", "gap", "window"), [
    ("*/5 * * * *", 5, "5m"), ("0 * * * *", 60, "1h"), ("30 5 * * 4", 10080, "1w"),
    ("0 9 * * 1-5", 3 * 1440, "1w"), ("0 6 * * *", 1440, "1d"),
])
def test_windows_follow_the_schedule(schedule: str, gap: int, window: str) -> None:
    assert max_gap_minutes(schedule, "UTC") == gap
    assert window_for(gap)[1] == window


# --- the exports against Datadog's own API models (datadog-api-client) ------

def _unparsed(x: Any, path: str = "$") -> list[str]:
    """Where the client could not read a part as its model (an unknown enum
    value, a widget definition matching no widget type): it keeps those as
    "unparsed" instead of failing, so we look for them."""
    out = [path] if isinstance(x, UnparsedObject) or getattr(x, "_unparsed", False) else []
    if isinstance(x, OpenApiModel) and hasattr(x, "_data_store"):
        items: Iterable[tuple[object, Any]] = x._data_store.items()
    elif isinstance(x, dict):
        items = x.items()
    elif isinstance(x, list):
        items = enumerate(x)
    else:
        items = ()
    for key, value in items:
        out += _unparsed(value, f"{path}.{key}")
    return out


def _as_model(doc: Any, model: type) -> Any:
    return validate_and_convert_types(doc, (model,), ["export"], True, True, Configuration())


def _valid(doc: Any, model: type) -> list[str]:
    try:
        return _unparsed(_as_model(doc, model))
    except ApiTypeError as exc:
        return [str(exc)]


VARIED = {
    "failed_charges": {"schedule": "*/5 * * * *", "thresholds": {"warning": 2, "critical": 10},
                       "alert": {"recovery": 1}},
    "low_revenue": {"type": "sql", "query": "SELECT 1", "metric": "revenue",
                    "thresholds": {"warning": 500, "critical": 100, "comparator": "<"},
                    "alert": {"recovery": 700}},
    "refunds": {"type": "sql", "query": "SELECT 1", "thresholds": {"warning": 20}},
    "gauge_only": {"type": "sql", "query": "SELECT 1"},
    "payments": {"type": "payment_volume", "window_minutes": 30, "query":
                 "SELECT 'usd' AS currency, 1 AS count WHERE :window_start < :window_end"},
    "last_payment": {"type": "payment_freshness", "max_silence_minutes": 60,
                     "query": "SELECT :now"},
}


def test_volume_checks_export_their_judged_metric_and_a_baseline_chart() -> None:
    s = settings_with(VARIED)
    queries = {m["name"]: m["query"] for m in monitors(s)}
    scope = "env:prod,service:payments"
    assert queries["[Billing] payments"] == (
        f"min(last_5m):max:billing.payment_volume.below_baseline{{{scope},check:payments}} > 0")
    assert queries["[Billing] last_payment"] == (
        f"min(last_5m):max:billing.payment_freshness.over_limit{{{scope},check:last_payment}}"
        " > 1")
    chart = next(w["definition"] for w in dashboard(s)["widgets"]
                 if w["definition"].get("title") == "payments: payments in 30 min")
    tags = f"{scope},check:payments,measure:count,window:30m"
    assert [r["q"] for r in chart["requests"]] == [
        f"max:billing.payment_volume.{g}{{{tags}}} by {{currency}}"
        for g in ("value", "baseline", "band")]


@pytest.mark.parametrize("source", ["committed", "varied"])
def test_exports_are_valid_datadog_api_bodies(source: str) -> None:
    if source == "committed":
        dash = json.loads((COMMITTED / "dashboard.json").read_text())
        mons = json.loads((COMMITTED / "monitors.json").read_text())
    else:
        s = settings_with(VARIED)
        dash, mons = dashboard(s), monitors(s)
    assert _valid(dash, Dashboard) == []
    assert mons and [_valid(m, Monitor) for m in mons] == [[] for _ in mons]
    assert _as_model(dash, Dashboard).to_dict() == dash  # nothing dropped or reshaped


def test_the_model_check_refuses_what_datadog_would() -> None:
    mon = monitors(settings_with(VARIED))[0]
    assert _valid({**mon, "type": "metric alarm"}, Monitor) == ["$", "$.type"]
    wrong = {**mon, "options": {**mon["options"], "thresholds": {"critical": "ten"}}}
    assert "Invalid type for variable 'critical'" in _valid(wrong, Monitor)[0]
    dash = dashboard(settings_with(VARIED))
    broken = {**dash, "widgets": [{"definition": {"type": "timeseries", "requests": "q"}}]}
    assert "$.widgets.0.definition" in _valid(broken, Dashboard)
