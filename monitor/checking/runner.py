"""The runner owns isolation: each check runs under a timeout in its own
thread; whatever it raises becomes UNKNOWN with the error kept; each sink call
is isolated too. Nothing a check or sink raises escapes `run`."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from billing_monitor.alerts.contract import Sink
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.contract import (
    Check,
    CheckContext,
    CheckResult,
    Evaluation,
    Measurement,
    Period,
    RunReport,
    Status,
)
from billing_monitor.checks.sources import unreachable_of
from billing_monitor.clock import Clock, utc_now
from billing_monitor.logs import describe_error

log = logging.getLogger("billing_monitor.runner")

@dataclass(frozen=True)
class PlannedCheck:
    """A check with the options that govern how it is run and judged."""

    check: Check
    options: CheckOptions


class _Outcome:
    measurements: Sequence[Measurement] = ()
    error: BaseException | None = None


def _collect(check: Check, ctx: CheckContext, timeout: float) -> Sequence[Measurement]:
    """Run collect in a daemon thread; a hung check is abandoned, never joined."""
    out = _Outcome()

    def target() -> None:
        try:
            out.measurements = list(check.collect(ctx))
        except BaseException as exc:  # the thread must not die with a traceback
            out.error = exc

    worker = threading.Thread(target=target, name=f"check-{check.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"timed out after {timeout:g}s")
    if isinstance(out.error, Exception):
        raise out.error
    if out.error is not None:  # SystemExit or the like, raised by a check: not ours to honour
        raise RuntimeError(f"check raised {out.error!r}")
    return out.measurements


def finite(m: Measurement) -> Measurement:
    """A value is a finite real number, or the check could not measure: a NaN
    compares false with every threshold (healthy by accident), and text or a
    boolean is not a measurement."""
    value: object = m.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        tags = "{" + ",".join(m.tags) + "}" if m.tags else ""
        raise ValueError(f"{m.name}{tags} is {value!r}, not a finite number")
    return m


def evaluate(planned: PlannedCheck, measurements: Iterable[Measurement]) -> list[Evaluation]:
    out = []
    for m in map(finite, measurements):
        status, crossed = planned.options.thresholds_for(m.name).evaluate(m.value)
        out.append(Evaluation(m, status, crossed))
    return out


def run_check(
    planned: PlannedCheck, period: Period, now: datetime, sample_limit: int
) -> CheckResult:
    timeout = planned.options.timeout_seconds
    started = time.monotonic()
    ctx = CheckContext(period, now, deadline=started + timeout, sample_limit=sample_limit)
    tags = planned.options.tags
    try:
        evaluations = evaluate(planned, _collect(planned.check, ctx, timeout))
    except Exception as exc:
        error = describe_error(exc)
        log.warning("check %s could not run: %s", planned.check.name, error)
        # What a failed run still measured (e.g. the Stripe requests it made) is
        # reported with it, as an exception's `measurements`; it decides no status.
        partial = [Evaluation(m, Status.OK) for m in getattr(exc, "measurements", ())]
        return CheckResult(
            planned.check.name, Status.UNKNOWN, tuple(partial), time.monotonic() - started, now,
            period, error=error, tags=tags, unreachable=unreachable_of(exc),
        )
    worst = max((e.status for e in evaluations), default=Status.OK)
    return CheckResult(
        planned.check.name, worst, tuple(evaluations), time.monotonic() - started, now, period,
        tags=tags,
    )


def deliver(result: CheckResult, sinks: Sequence[Sink], report: RunReport) -> None:
    for sink in sinks:
        try:
            sink.emit(result)
        except Exception as exc:
            error = describe_error(exc)
            log.warning("sink %s failed for check %s: %s", sink.name, result.check, error)
            report.sink_errors.append((sink.name, result.check, error))


class Runner:
    def __init__(
        self,
        checks: Mapping[str, PlannedCheck],
        sinks: Sequence[Sink],
        period: Callable[[datetime], Period],
        *,
        clock: Clock = utc_now,
        sample_limit: int = 20,
    ) -> None:
        self.checks = checks
        self.sinks = sinks
        self._period = period
        self._clock = clock
        self._sample_limit = sample_limit

    def run(self, names: Iterable[str] | None = None) -> RunReport:
        report = RunReport()
        for name in names if names is not None else self.checks:
            now = self._clock()
            result = run_check(self.checks[name], self._period(now), now, self._sample_limit)
            log.info(
                "check %s status=%s duration=%.3fs", name, result.status.label, result.duration_s
            )
            report.results.append(result)
            deliver(result, self.sinks, report)
        return report
