"""The routing tree: an ordered list of routes, each matching on check name,
check type, tags and severity and naming receivers. The first route that
matches wins unless it says `continue = true`; an alert no route matches goes
to the default route (`[routing] default`, else the built-in channels whose
old single-channel variables are set, so an old configuration routes as before).

Severities routed: "critical", "warning" (a check's status) and "degraded"
(the monitor cannot run the check). A resolve goes wherever its trigger went;
that is the alert engine's bookkeeping, not a route."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RoutedSeverity = Literal["critical", "warning", "degraded"]
SEVERITIES: tuple[RoutedSeverity, ...] = ("critical", "warning", "degraded")
ALIASES: dict[str, RoutedSeverity] = {"crit": "critical", "warn": "warning",
                                      "critical": "critical", "warning": "warning",
                                      "degraded": "degraded"}


class Route(BaseModel):
    """`[[routes]]`. Every matcher left out matches anything; `tags` must all
    be on the check."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(default="", max_length=80)
    receivers: tuple[str, ...] = Field(min_length=1)
    checks: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    severities: tuple[RoutedSeverity, ...] = ()
    continue_: bool = Field(default=False, alias="continue")

    def matches(self, check: CheckFacts, severity: RoutedSeverity) -> bool:
        return ((not self.checks or check.name in self.checks)
                and (not self.types or check.type in self.types)
                and all(tag in check.tags for tag in self.tags)
                and (not self.severities or severity in self.severities))


class RoutingSection(BaseModel):
    """`[routing]`. `default` unset: the built-in channels that are configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CheckFacts:
    """What a route can match on: the check's name, its type and its tags."""

    name: str
    type: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    receivers: tuple[str, ...]  # in order of first mention, no repeats
    matched: tuple[int, ...]  # 1-based route numbers; () = the default route


@dataclass(frozen=True)
class RoutingTable:
    routes: tuple[Route, ...]
    default: tuple[str, ...]
    kinds: Mapping[str, str]  # receiver name -> kind, for printing

    def route(self, check: CheckFacts, severity: RoutedSeverity) -> Resolution:
        out: list[str] = []
        matched: list[int] = []
        for number, r in enumerate(self.routes, start=1):
            if not r.matches(check, severity):
                continue
            matched.append(number)
            out += [name for name in r.receivers if name not in out]
            if not r.continue_:
                break
        if not matched:
            out = list(self.default)
        return Resolution(tuple(out), tuple(matched))


def build_table(routes: Sequence[Route], section: RoutingSection,
                kinds: Mapping[str, str], legacy_configured: Iterable[str]) -> RoutingTable:
    default = section.default if section.default is not None else tuple(legacy_configured)
    return RoutingTable(tuple(routes), tuple(default), dict(kinds))


def problems(routes: Sequence[Route], section: RoutingSection, receivers: Iterable[str],
             legacy: Iterable[str], checks: Mapping[str, CheckFacts], where: str) -> list[str]:
    """Configuration errors, each naming the file and the key: a route or the
    default naming an unknown receiver or check, a receiver no route uses."""
    defined = list(receivers)
    known = [*defined, *legacy]
    out: list[str] = []

    def unknown(key: str, names: Iterable[str]) -> None:
        for name in names:
            if name not in known:
                out.append(f"{where}: {key}: unknown receiver {name!r} "
                           f"(receivers: {', '.join(known) or 'none'})")

    types = {c.type for c in checks.values()}
    for i, r in enumerate(routes, start=1):
        at = f"routes.{i - 1}"  # as pydantic names it; the table numbers routes from 1
        unknown(f"{at}.receivers (route #{i})", r.receivers)
        for name in r.checks:
            if name not in checks:
                out.append(f"{where}: {at}.checks (route #{i}): unknown check {name!r}")
        for t in r.types:
            if t not in types:
                out.append(f"{where}: {at}.types (route #{i}): no configured check has "
                           f"type {t!r}")
    if section.default is not None:
        unknown("routing.default", section.default)
    used = {n for r in routes for n in r.receivers} | set(section.default or ())
    for name in defined:
        if name not in used:
            out.append(f"{where}: receivers.{name}: referenced by no route "
                       "(name it in a [[routes]] receivers list or in [routing] default)")
    return out


def _cell(values: Sequence[str]) -> str:
    return ",".join(values) if values else "*"


def table_lines(table: RoutingTable) -> list[str]:
    """The routing table as `validate` prints it, first match first."""
    rows = [("#", "name", "checks", "types", "tags", "severities", "receivers", "continue")]
    for i, r in enumerate(table.routes, start=1):
        rows.append((str(i), r.name or "-", _cell(r.checks), _cell(r.types), _cell(r.tags),
                     _cell(r.severities), _receivers(table, r.receivers),
                     "yes" if r.continue_ else "no"))
    rows.append(("*", "default", "*", "*", "*", "*",
                 _receivers(table, table.default) or "(none: alerts are held)", "-"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _receivers(table: RoutingTable, names: Sequence[str]) -> str:
    return ", ".join(f"{n} ({table.kinds.get(n, '?')})" for n in names)


def explain(table: RoutingTable, check: CheckFacts, severity: RoutedSeverity) -> list[str]:
    """`billing-monitor route CHECK --severity S`: which routes match and where it goes."""
    res = table.route(check, severity)
    how = ("route " + ", ".join(f"#{n}" + (f" ({table.routes[n - 1].name})"
                                           if table.routes[n - 1].name else "")
                                for n in res.matched)) if res.matched else "the default route"
    goes = _receivers(table, res.receivers) or "nowhere (no receiver configured: held)"
    return [f"{check.name} (type {check.type}) at {severity}: {how}", f"  -> {goes}"]
