"""The alert engine's router and the dispatcher's lane order, from the
settings: routes and receivers (README "Routing alerts"). Without routes the
router sends every alert to every configured channel, as before receivers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from billing_monitor.alerting.sources import Router
from billing_monitor.alerts.receivers import LEGACY
from billing_monitor.settings.model import Settings
from billing_monitor.settings.routes import check_facts, routing_table


def router_for(settings: Settings, channels: Iterable[str]) -> Router:
    """`channels`: the notifiers this process has. The default route is
    `[routing] default`, else the built-in channels among them."""
    table = routing_table(settings, [c for c in sorted(channels) if c in LEGACY])
    facts = check_facts(settings)

    def route(check: str, severity: str) -> Sequence[str]:
        known = facts.get(check)
        if known is None:  # a check no longer configured: only resolves, to who had it
            return ()
        return table.route(known, severity).receivers  # type: ignore[arg-type]

    return route


def first_lanes(settings: Settings) -> tuple[str, ...]:
    """Lanes started first so a page never waits for a free lane: PagerDuty's."""
    return ("pagerduty", *sorted(n for n, r in settings.receivers.items()
                                 if r.kind == "pagerduty"))
