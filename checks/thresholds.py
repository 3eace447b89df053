"""Thresholds are data: levels and a comparator, evaluated generically."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from billing_monitor.checks.contract import Status

Comparator = Literal[">", ">=", "<", "<="]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Thresholds(BaseModel):
    """`value <comparator> critical` is CRIT, else `value <comparator> warning`
    is WARN, else OK. With no levels a measurement is always OK (a gauge only)."""

    # A NaN level would make every comparison false (alerting off, silently);
    # an infinite one can never be crossed.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    warning: float | None = None
    critical: float | None = None
    comparator: Comparator = ">"

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        w, c = self.warning, self.critical
        if w is not None and c is not None and _OPS[self.comparator](w, c):
            raise ValueError(
                f"warning ({w:g}) is beyond critical ({c:g}) for comparator "
                f"'{self.comparator}': a value would turn critical before it warns"
            )
        return self

    def evaluate(self, value: float) -> tuple[Status, str]:
        """The status of `value` and the threshold it crossed (for people)."""
        op = _OPS[self.comparator]
        if self.critical is not None and op(value, self.critical):
            return Status.CRIT, f"{self.comparator} {self.critical:g}"
        if self.warning is not None and op(value, self.warning):
            return Status.WARN, f"{self.comparator} {self.warning:g}"
        return Status.OK, ""

    def describe(self) -> str:
        parts = []
        if self.warning is not None:
            parts.append(f"warn {self.comparator} {self.warning:g}")
        if self.critical is not None:
            parts.append(f"crit {self.comparator} {self.critical:g}")
        return ", ".join(parts) or "none"
