"""`Settings`: the whole configuration as one frozen model, one section per
TOML table. Loading and validating it is load.py's job."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from billing_monitor.alerts.config import (
    GoogleChatSection,
    LivenessSection,
    PagerDutySection,
    SlackSection,
)
from billing_monitor.alerts.receivers import LEGACY, RECEIVER_NAME, Receiver
from billing_monitor.alerts.routing import Route, RoutingSection
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.policy import Silence
from billing_monitor.checks.stripe.config import StripeSection
from billing_monitor.settings.sections import (
    DaemonSection,
    DatabaseSection,
    HttpSection,
    LoggingSection,
    MonitorSection,
    OutboxSection,
    PeriodSection,
    Section,
    StateSection,
    StatsdSection,
)

DEFAULT_CONFIG = Path("/etc/billing-monitor/billing-monitor.toml")
CONFIG_ENV = "BILLING_MONITOR_CONFIG"
# Keys whose values may hold credentials: never echoed in an error.
SECRET_KEYS = frozenset({"url", "api_key", "routing_key", "webhook_url", "ping_url"})




class Settings(Section):
    monitor: MonitorSection = MonitorSection()
    database: DatabaseSection = DatabaseSection()
    period: PeriodSection = PeriodSection()
    statsd: StatsdSection = StatsdSection()
    stripe: StripeSection = StripeSection()
    daemon: DaemonSection = DaemonSection()
    http: HttpSection = HttpSection()
    logging: LoggingSection = LoggingSection()
    pagerduty: PagerDutySection = PagerDutySection()
    slack: SlackSection = SlackSection()
    google_chat: GoogleChatSection = GoogleChatSection()
    liveness: LivenessSection = LivenessSection()
    checks: dict[str, CheckOptions] = Field(default_factory=dict)
    state: StateSection = StateSection()
    outbox: OutboxSection = OutboxSection()
    silences: tuple[Silence, ...] = ()
    # Routing (README "Routing alerts"): named receivers, ordered routes, the default.
    receivers: dict[str, Receiver] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    routing: RoutingSection = RoutingSection()
    source: str = "<defaults>"

    @field_validator("receivers")
    @classmethod
    def _receiver_names(cls, v: dict[str, Receiver]) -> dict[str, Receiver]:
        for name in v:
            if name in LEGACY:
                raise ValueError(f"receiver name {name!r} is the built-in channel (its secret "
                                 "comes from the old variable); pick another name")
            if not RECEIVER_NAME.match(name):
                raise ValueError(f"receiver name {name!r}: a-z, 0-9, _ (a letter first), "
                                 "at most 63")
        return v

    def secret_credentials(self) -> tuple[tuple[str, str], ...]:
        """(variable, systemd credential) of every receiver's secret."""
        return tuple((r.secret_env, r.credential) for r in self.receivers.values())

    def secret_envs(self) -> tuple[str, ...]:
        return tuple(r.secret_env for r in self.receivers.values())
