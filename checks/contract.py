"""The check contract, the ground every other layer stands on.

A check measures and returns `Measurement`s; the runner evaluates them into a
`CheckResult`; one run's results make a `RunReport`. The sinks that deliver
results are the alerts layer's contract (alerts/contract.py). Nothing here
does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, runtime_checkable


class Status(enum.IntEnum):
    """Check status, ordered by severity. Values match Datadog service checks
    except that UNKNOWN sorts above CRIT when picking the exit code."""

    OK = 0
    WARN = 1
    CRIT = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class Measurement:
    """One number a check measured. `name` is the metric name without the
    namespace (`unbilled_orders`); `tags` are `key:value` strings."""

    name: str
    value: float
    tags: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Period:
    """A business period, half-open: [start, end) in the configured zone."""

    label: str
    start: date
    end: date
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class CheckContext:
    """What a check may use while it runs: the period, the clock and the
    deadline by which it must give up (monotonic seconds)."""

    period: Period
    now: datetime
    deadline: float
    sample_limit: int = 20


@runtime_checkable
class Check(Protocol):
    """A check measures; it never sends anything and never decides status."""

    name: str

    def collect(self, ctx: CheckContext) -> Sequence[Measurement]: ...


@dataclass(frozen=True)
class Evaluation:
    """The status of one measurement against its thresholds."""

    measurement: Measurement
    status: Status
    threshold: str = ""


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    evaluations: tuple[Evaluation, ...]
    duration_s: float
    started_at: datetime
    period: Period
    error: str | None = None
    tags: tuple[str, ...] = ()
    # The source the check could not reach ("database", "stripe"): checks/sources.py
    unreachable: str | None = None

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        return tuple(e.measurement for e in self.evaluations)

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "status": self.status.label,
            "period": self.period.label,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 6),
            "error": self.error,
            "measurements": [
                {
                    "name": e.measurement.name,
                    "value": e.measurement.value,
                    "tags": list(e.measurement.tags),
                    "status": e.status.label,
                    "threshold": e.threshold,
                    "samples": list(e.measurement.samples),
                }
                for e in self.evaluations
            ],
        }


@dataclass
class RunReport:
    """What one CLI invocation ran and what each sink did."""

    results: list[CheckResult] = field(default_factory=list)
    sink_errors: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def worst(self) -> Status:
        return max((r.status for r in self.results), default=Status.OK)

    @property
    def exit_code(self) -> int:
        """0 OK, 1 WARN, 2 CRIT, 3 could not run; a critical check wins over
        one that could not run, so that a wrapper paging on 2 never misses it."""
        statuses = {r.status for r in self.results}
        if Status.CRIT in statuses:
            return int(Status.CRIT)
        return int(max(statuses, default=Status.OK))
