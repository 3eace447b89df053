"""Rules over the whole configuration that no single field can check: strict
numbers, one metric name per check, and the environment's names and hosts.
Each problem names the file (or `environment`) and the key, never a secret."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.names import SERVICE_NAME
from billing_monitor.checks.stripe.config import API_KEY_ENV

# A configuration file is a few kilobytes; anything near this is a mistake
# (or an attack on the parser), refused before it is read (README).
MAX_CONFIG_BYTES = 1024 * 1024


def _kinds(annotation: Any) -> tuple[Any, ...]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return tuple(k for a in get_args(annotation) for k in _kinds(a))
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        return _kinds(get_args(annotation)[0])  # Annotated[int, ...]
    return (annotation,)


def bool_problems(where: str, model: type[BaseModel], raw: Any,
                  prefix: tuple[str, ...] = ()) -> list[str]:
    """`sample_limit = true` is not 1: pydantic would convert it, so a number
    field given a boolean is refused here, in every section and check."""
    if not isinstance(raw, dict):
        return []
    problems = []
    for key, value in raw.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        kinds = _kinds(field.annotation)
        loc = ".".join((*prefix, key))
        if isinstance(value, bool) and bool not in kinds and {int, float} & set(kinds):
            problems.append(f"{where}: {loc}: must be a number, not {str(value).lower()}")
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                problems += bool_problems(where, kind, value, (*prefix, key))
    return problems


def duplicate_metrics(where: str, checks: Mapping[str, CheckOptions]) -> list[str]:
    """Two checks reporting under one metric name would be summed by every
    Datadog monitor and dashboard on it."""
    owner: dict[str, str] = {}
    problems = []
    for name, options in checks.items():
        for metric in options.metric_names(name):
            if metric in owner:
                problems.append(f"{where}: checks.{name}.metric: {metric!r} is already the "
                                f"metric of check {owner[metric]!r}; give each check its own")
            else:
                owner[metric] = name
    return problems


def _control(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def environment_problems(env: Mapping[str, str]) -> list[str]:
    """DD_ENV and DD_SERVICE become dedup keys and tags; the Stripe key goes
    on the wire. Named without their values where they may be secret."""
    problems = []
    for var in ("DD_ENV", "DD_SERVICE"):
        value = env.get(var, "")
        if value and not SERVICE_NAME.fullmatch(value):
            shown = "" if _control(value) or len(value) > 63 else f" (got {value!r})"
            problems.append(f"environment: {var}: must be 1 to 63 of a-z, 0-9, '_', '.', "
                            f"'-', starting with a letter or digit{shown}")
    key = env.get(API_KEY_ENV, "")
    if key and _control(key.strip()):
        problems.append(f"environment: {API_KEY_ENV}: holds control characters (a pasted "
                        "newline?)")
    return problems
