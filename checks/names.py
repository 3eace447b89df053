"""The safe character sets for names that end up on the wire.

A name becomes part of a PagerDuty dedup key (`{service}/{check}/{period}`),
a DogStatsD datagram (`metric:value|g|#tag,tag`) and a Prometheus label, so
a `/`, `|`, `,`, `#`, `:` in the wrong place, a space or a newline would
change a dedup key or corrupt a datagram. Each set is documented in the
README ("Names"); the configuration refuses anything outside it (exit 78).
"""

from __future__ import annotations

import re

# [checks.NAME]: a dedup key part, a `check:` tag value and a Prometheus label.
CHECK_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# [monitor] service and env: dedup key parts (no "/") and tag values. Lower
# case only: Datadog lowercases tags, dedup keys do not.
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# Datadog's documented metric names: a letter first, then ASCII letters,
# digits, "_" and "." between non-empty parts; at most 200 characters.
METRIC_NAME = re.compile(r"^(?=.{1,200}$)[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
# Datadog's documented tag characters: a letter first, then letters, digits,
# "_", "-", ":", "." and "/"; at most 200 characters.
TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_.:/-]{0,199}$")
# First parts of a metric name the monitor sends itself (docs/metrics.md).
RESERVED_METRIC_PREFIXES = ("check", "outbox", "stripe", "health", "test_alert")


def check_service_name(value: str) -> str:
    if not SERVICE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be 1 to 63 of a-z, 0-9, '_', '.', '-', starting "
                         "with a letter or digit (it is part of every dedup key and tag)")
    return value


def check_tag(value: str) -> str:
    if not TAG.fullmatch(value):
        raise ValueError(f"tag {value!r} must start with a letter and hold only letters, "
                         "digits, '_', '-', ':', '.' and '/' (at most 200 characters)")
    return value


def check_metric_name(value: str) -> str:
    if not METRIC_NAME.fullmatch(value):
        raise ValueError(f"metric {value!r} must be lower-case parts of a-z, 0-9 and '_' "
                         "joined by '.', starting with a letter (at most 200 characters)")
    if value.split(".", 1)[0] in RESERVED_METRIC_PREFIXES:
        raise ValueError(f"metric {value!r} would collide with the monitor's own metrics "
                         f"(names starting {', '.join(RESERVED_METRIC_PREFIXES)})")
    return value
