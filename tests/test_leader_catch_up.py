"""Continuity at a change of leader (issue 11): a scheduled run that fell in
the handover (no run recorded since the schedule's latest time, within the
window) runs once at the takeover; nothing else is run early, and a run the
old leader recorded is not repeated. Clock injected; the store is real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from billing_monitor.alerting.store import open_state
from billing_monitor.alerting.tables import check_runs
from billing_monitor.daemon import scheduler as sched
from billing_monitor.daemon.leading import missed_runs
from tests.helpers import settings_for

NOW = datetime(2026, 12, 3, 10, 0, 3, tzinfo=UTC)  # 3 s after the hourly run was due
WINDOW = timedelta(seconds=45)


def _check(schedule: str) -> dict[str, object]:
    return {"type": "sql", "query": "SELECT 1", "schedule": schedule}


def test_the_run_due_in_the_handover_runs_once(tmp_path: Path) -> None:
    settings = settings_for({
        "daemon": {"timezone": "UTC"},
        "checks": {"hourly": _check("0 * * * *"), "daily": _check("0 5 * * *"),
                   "new": _check("0 * * * *"), "half": _check("30 * * * *"),
                   "done": _check("0 * * * *")}})
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    ran = {"hourly": NOW.replace(hour=9, second=0, microsecond=20_000),  # the 09:00 run
           "daily": NOW.replace(hour=5, second=0), "half": NOW.replace(hour=9, minute=30),
           "done": NOW.replace(second=1)}  # the old leader ran 10:00 before it died
    with store.begin() as conn:
        for name, at in ran.items():
            conn.execute(insert(check_runs).values(
                check_name=name, status="OK", started_at=at, period="p", value=1.0,
                duration_s=0.1, error=None, result={}))
    scheduler = sched.make_scheduler(settings.daemon)
    sched.apply_jobs(scheduler, sched.check_triggers(settings), lambda name: None,
                     settings.daemon)
    # hourly: 10:00 due, last run 09:00; new: never ran, 10:00 due within the window;
    # daily: next at 05:00 tomorrow; half: 09:30 is outside the window (a normal
    # misfire, not a handover); done: the 10:00 run is recorded.
    assert missed_runs(scheduler, settings, store, NOW, WINDOW) == ["hourly", "new"]
    due = {j.args[0]: getattr(j, "next_run_time", None) for j in scheduler.get_jobs()}
    assert due["hourly"] == NOW and due["new"] == NOW
    assert due["daily"] != NOW and due["done"] != NOW
    with store.begin() as conn:  # the new leader ran them
        for name in ("hourly", "new"):
            conn.execute(check_runs.delete().where(check_runs.c.check_name == name))
            conn.execute(insert(check_runs).values(
                check_name=name, status="OK", started_at=NOW, period="p", value=1.0,
                duration_s=0.1, error=None, result={}))
    later = NOW + timedelta(seconds=5)
    assert missed_runs(scheduler, settings, store, later, WINDOW) == []  # once
    store.dispose()
