"""Where the rest of the product plugs into the daemon.

The alerting parts (state store, outbox dispatcher, liveness pings) give the
daemon callables; the daemon calls them at the right moments and isolates
every call, so a failing hook is logged and counted but never stops a check.
Unset, each hook is a no-op object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from alerts.base import Liveness
from alerts.prometheus import MonitorMetrics
from monitor.scheduler import PeriodicJob
from monitor.settings import Settings
from monitor.types import RunReport

# None when reachable; otherwise a reason, shown on /healthz (no secrets).
Probe = Callable[[], str | None]


class NullLiveness:
    """No liveness URL configured: pings go nowhere."""

    def start(self, rid: str) -> None:
        return None

    def success(self, rid: str, body: str = "") -> None:
        return None

    def fail(self, rid: str, body: str = "") -> None:
        return None


def store_not_configured() -> str | None:
    return None


@dataclass(frozen=True)
class Hooks:
    # After every check run, with its report (e.g. alert state machine ->
    # outbox rows in the same transaction as the state change).
    after_run: Sequence[Callable[[RunReport], None]] = ()
    # Scheduled beside the checks (e.g. outbox dispatcher every few seconds).
    periodic: Sequence[PeriodicJob] = ()
    # At shutdown, after in-flight checks finished, within the shutdown bound
    # (e.g. one last outbox drain).
    on_stop: Sequence[Callable[[], None]] = ()
    liveness: Liveness = field(default_factory=NullLiveness)
    # /healthz "state store reachable"; the default reports "not configured".
    state_store: Probe = store_not_configured
    state_store_configured: bool = False


def build_hooks(settings: Settings, metrics: MonitorMetrics) -> Hooks:
    """The product's hooks from the settings. Alerting fills this in; until
    then the daemon runs checks and metrics only."""
    return Hooks()
