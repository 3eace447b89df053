"""The runner's isolation: nothing a check or sink raises escapes it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

import pytest

from billing_monitor.alerts.contract import SinkError
from billing_monitor.checking.runner import PlannedCheck, Runner
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import CheckContext, CheckResult, Measurement, Period, Status
from billing_monitor.checks.period import current_period
from billing_monitor.checks.thresholds import Thresholds
from tests.helpers import NOW


class Fixed:
    def __init__(self, name: str, *values: float) -> None:
        self.name = name
        self.values = values

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        return [Measurement(self.name, v, (f"n:{i}",)) for i, v in enumerate(self.values)]


class Raises:
    def __init__(self, name: str, exc: BaseException) -> None:
        self.name = name
        self.exc = exc

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        raise self.exc


class Hangs:
    """Blocks until released: a query that never returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.release = threading.Event()

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]:
        self.release.wait(60)
        return []


class Recorder:
    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.results: list[CheckResult] = []

    def emit(self, result: CheckResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        pass


class Broken:
    name = "broken"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def emit(self, result: CheckResult) -> None:
        raise self.exc

    def close(self) -> None:
        pass


def _opts(timeout: float = 5, **thresholds: float) -> CheckOptions:
    return CheckOptions(type="sql", timeout_seconds=timeout, thresholds=Thresholds(**thresholds))


def _period(now: datetime) -> Period:
    return current_period("iso_week", "UTC", now)


def _runner(checks: dict[str, PlannedCheck], *sinks: object) -> Runner:
    return Runner(checks, list(sinks), _period, clock=lambda: NOW)  # type: ignore[arg-type]


def test_worst_measurement_decides_and_evaluations_are_kept() -> None:
    rec = Recorder()
    report = _runner({"c": PlannedCheck(Fixed("c", 1, 7, 12), _opts(warning=5, critical=10))},
                     rec).run()
    [result] = report.results
    assert result.status is Status.CRIT
    assert [(e.status, e.threshold) for e in result.evaluations] == [
        (Status.OK, ""), (Status.WARN, "> 5"), (Status.CRIT, "> 10")]
    assert rec.results == [result] and result.period.label == "2026-W47"


@pytest.mark.parametrize("exc", [ValueError("bad row"), ZeroDivisionError("x"),
                                 SystemExit(3), KeyboardInterrupt()])
def test_a_raising_check_is_unknown_and_the_next_still_runs(exc: BaseException) -> None:
    rec = Recorder()
    report = _runner({
        "bad": PlannedCheck(Raises("bad", exc), _opts()),
        "good": PlannedCheck(Fixed("good", 0), _opts(critical=1)),
    }, rec).run()
    bad, good = report.results
    assert bad.status is Status.UNKNOWN and bad.error and bad.evaluations == ()
    assert good.status is Status.OK
    assert [r.check for r in rec.results] == ["bad", "good"]
    assert report.worst is Status.UNKNOWN


def test_a_hung_check_times_out_without_blocking_the_others() -> None:
    hung = Hangs("hung")
    try:
        report = _runner({
            "hung": PlannedCheck(hung, _opts(timeout=0.2)),
            "good": PlannedCheck(Fixed("good", 3), _opts(warning=2)),
        }).run()
    finally:
        hung.release.set()
    hung_result, good = report.results
    assert hung_result.status is Status.UNKNOWN
    assert hung_result.error == "TimeoutError: timed out after 0.2s"
    assert good.status is Status.WARN


def test_failing_sinks_are_isolated_and_reported() -> None:
    rec = Recorder()
    report = _runner({"c": PlannedCheck(Fixed("c", 1), _opts())},
                     Broken(SinkError("agent gone")), Broken(RuntimeError("bug")), rec).run()
    assert len(rec.results) == 1
    assert report.sink_errors == [("broken", "c", "SinkError: agent gone"),
                                  ("broken", "c", "RuntimeError: bug")]


def test_selected_names_run_in_the_given_order() -> None:
    rec = Recorder()
    checks = {n: PlannedCheck(Fixed(n, 0), _opts()) for n in ("a", "b", "c")}
    _runner(checks, rec).run(["c", "a"])
    assert [r.check for r in rec.results] == ["c", "a"]


def test_database_error_message_is_one_line_without_sql_dump() -> None:
    from sqlalchemy.exc import OperationalError

    exc = OperationalError("SELECT secret_stuff FROM t", {}, Exception("no such table: t"))
    report = _runner({"c": PlannedCheck(Raises("c", exc), _opts())}).run()
    assert report.results[0].error == "OperationalError: no such table: t"
