"""`AppServices`: the shared resources check factories ask for (the billing
database engine, the Stripe client, the Stripe cursor store), created on first
use, so that `check unbilled_orders` needs no Stripe key. The environment's
secrets are handed in by the command that read them."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Engine

from billing_monitor.alerting.history_fill import FillingHistory
from billing_monitor.alerting.store import open_state
from billing_monitor.checking.billing_db import cancel_running, open_engine
from billing_monitor.checks.history import HistoryStore
from billing_monitor.checks.stripe.client import StripeApi, build_stripe_api
from billing_monitor.checks.stripe.state import CursorStore, SqlCursorStore
from billing_monitor.settings.model import Settings

log = logging.getLogger("billing_monitor")


class AppServices:
    """Shared resources for check factories, created on first use."""

    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self._settings = settings
        self._env = env
        self._engine: Engine | None = None
        self._stripe: StripeApi | None = None
        self._cursors: CursorStore | None = None
        self._history: HistoryStore | None = None

    def billing_engine(self) -> Engine:
        if self._engine is None:
            # The session's own statement_timeout: the longest check's timeout.
            longest = max((o.timeout_seconds for o in self._settings.checks.values()),
                          default=30.0)
            # As many reusable sessions as checks the daemon runs at once.
            self._engine = open_engine(self._settings.database.url, timeout_s=longest,
                                       sessions=self._settings.daemon.max_workers)
        return self._engine

    def stripe_client(self) -> StripeApi:
        if self._stripe is None:
            self._stripe = build_stripe_api(self._settings.stripe, self._env)
        return self._stripe

    def stripe_cursors(self) -> CursorStore:
        if self._cursors is None:
            # Beside the alert state by default: one store to back up and to
            # point several monitor hosts at (PostgreSQL).
            url = self._settings.stripe.state_url or self._settings.state.url
            self._cursors = SqlCursorStore(open_state(url))
        return self._cursors

    def history(self) -> HistoryStore:
        """The measurement history in the state store (the volume checks' baselines)."""
        if self._history is None:
            self._history = FillingHistory(open_state(self._settings.state.url))
        return self._history

    def close(self) -> None:
        if self._engine is not None:
            # A check still running when the daemon stops is cancelled on the
            # server, not left to run on after the process is gone.
            cancelled = cancel_running(self._engine)
            if cancelled:
                log.warning("cancelled %d check queries still running", cancelled)
            self._engine.dispose()
        if self._stripe is not None:
            self._stripe.close()
