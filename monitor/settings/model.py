"""`Settings`: the whole configuration as one frozen model, one section per
TOML table. Loading and validating it is load.py's job."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from billing_monitor.alerts.config import (
    GoogleChatSection,
    LivenessSection,
    PagerDutySection,
    SlackSection,
)
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
    source: str = "<defaults>"
