"""Turning a SQL result into measurements, strictly: a result that does not
fit one of the three documented shapes, or that the row cap cut, is an error
(the check is UNKNOWN with the message), never a silent partial count.

Shapes (README "What it checks"):
- one column: one number, at most one row (no rows or NULL is 0);
- a `value` column, the other columns tags: at most `MAX_ROWS` rows;
- exactly `sample_id` and `value`: one row per offending id, each carrying
  the total (only the first `sample_limit` rows are read).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from billing_monitor.checks.contract import Measurement

# Tagged values a check may report per run. The query is sent wrapped in
# `LIMIT MAX_ROWS + 1` (checks/sqlguard.py `bounded`), so no more than that
# ever leaves the server, and MAX_ROWS + 1 rows means the result was cut.
MAX_ROWS = 1000


def number(value: Any, where: str) -> float:
    """int, float and Decimal are numbers (NULL, as from SUM over no rows, is
    0); a bool or a text such as '12' is an error, not converted."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{where} returned {type(value).__name__}, not a number "
                         "(cast it in SQL if it is one)")
    return float(value)


def is_one_pass(columns: Sequence[str]) -> bool:
    return sorted(c.lower() for c in columns) == ["sample_id", "value"]


def one_pass(metric: str, where: str, columns: Sequence[str], rows: Sequence[Any],
             sample_limit: int) -> list[Measurement]:
    lowered = [c.lower() for c in columns]
    vi, si = lowered.index("value"), lowered.index("sample_id")
    if not rows:
        return [Measurement(metric, 0.0)]
    samples = tuple(str(row[si]) for row in rows[:sample_limit])
    return [Measurement(metric, number(rows[0][vi], where), (), samples)]


def tabular(metric: str, where: str, columns: Sequence[str],
            rows: Sequence[Any]) -> list[Measurement]:
    if len(columns) == 1:
        if len(rows) > 1:
            many = f"more than {MAX_ROWS}" if len(rows) > MAX_ROWS else str(len(rows))
            raise ValueError(f"{where} returned {many} rows of one column; a single "
                             "number is one row (name the number `value` to report rows "
                             "as tagged values)")
        return [Measurement(metric, number(rows[0][0] if rows else None, where))]
    if len(rows) > MAX_ROWS:
        raise ValueError(f"{where} returned more than {MAX_ROWS} rows; a check reports at most "
                         f"{MAX_ROWS} values (group by fewer columns), so the result would "
                         "be cut")
    lowered = [c.lower() for c in columns]
    if "value" not in lowered:
        raise ValueError(f"{where}: a query with several columns needs one named 'value' "
                         f"(got {', '.join(columns)})")
    vi = lowered.index("value")
    return [
        Measurement(metric, number(row[vi], where),
                    tuple(f"{c}:{row[i]}" for i, c in enumerate(lowered) if i != vi))
        for row in rows
    ]
