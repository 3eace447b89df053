"""Schedules: crontab's meaning (not APScheduler 3's weekday numbering),
the time zone, and the job options that keep runs from being silently lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing_monitor.checks.crontab import crontab_day_of_week, crontab_trigger
from billing_monitor.daemon.scheduler import (
    apply_jobs,
    check_triggers,
    make_scheduler,
    shortest_gap,
)
from billing_monitor.settings.load import parse_settings
from billing_monitor.settings.sections import DaemonSection

SUNDAY = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.parametrize(("field", "names"), [
    ("4", "thu"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"),
    ("*/2", "sun,tue,thu,sat"), ("sat,sun", "sun,sat"), ("0-6", "*"), ("*", "*"),
    ("5/1", "fri,sat"), ("mon-fri", "mon,tue,wed,thu,fri"),
])
def test_crontab_weekdays(field: str, names: str) -> None:
    assert crontab_day_of_week(field) == names


def test_the_articles_thursday_schedule_fires_on_thursday() -> None:
    fire = crontab_trigger("30 5 * * 4", ZoneInfo("UTC")).get_next_fire_time(None, SUNDAY)
    assert fire == datetime(2026, 11, 26, 5, 30, tzinfo=UTC) and fire.strftime("%A") == "Thursday"


def test_schedules_are_read_in_the_configured_zone() -> None:
    s = parse_settings({"daemon": {"timezone": "America/New_York"},
                        "checks": {"unbilled_orders": {"schedule": "0 9 * * *"}}}, "t", {})
    fire = check_triggers(s)["unbilled_orders"].get_next_fire_time(None, SUNDAY)
    assert fire is not None and fire.astimezone(UTC).hour == 14  # 09:00 EST


def test_jobs_coalesce_run_one_at_a_time_and_tolerate_lateness() -> None:
    daemon = DaemonSection(misfire_grace_seconds=120)
    scheduler = make_scheduler(daemon)
    scheduler.start(paused=True)  # as on a reload: the scheduler is up
    triggers = {"a": crontab_trigger("*/5 * * * *", ZoneInfo("UTC")),
                "b": crontab_trigger("0 * * * *", ZoneInfo("UTC"))}
    assert apply_jobs(scheduler, triggers, print, daemon) == ["check:a", "check:b"]
    for job in scheduler.get_jobs():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 120)
    assert apply_jobs(scheduler, {"b": triggers["b"]}, print, daemon) == ["check:b"]
    assert [j.id for j in scheduler.get_jobs()] == ["check:b"]
    assert shortest_gap(triggers, SUNDAY) == timedelta(minutes=5)
    scheduler.shutdown(wait=False)


@pytest.mark.parametrize("expr", ["30 5 * * 7", "30 5 * * 0-7", "0 9 * * mon-fri"])
def test_settings_accept_what_crontab_accepts(expr: str) -> None:
    raw = {"checks": {"unbilled_orders": {"schedule": expr}}}
    assert parse_settings(raw, "<test>", {}).checks["unbilled_orders"].schedule == expr
