"""`billing-monitor run`: assemble the daemon, serve until SIGTERM, exit 0.

A bad configuration at start-up raises ConfigError (exit 78, and systemd's
RestartPreventExitStatus=78 keeps it from restarting in a loop).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from billing_monitor.alerting.history_bulk import WindowCache
from billing_monitor.alerting.runtime import Alerting
from billing_monitor.alerting.status_doc import settings_document
from billing_monitor.alerts.prometheus import MonitorMetrics, metric_name
from billing_monitor.assembly import build_hooks, build_wiring
from billing_monitor.checking.wiring import Wiring
from billing_monitor.clock import utc_now
from billing_monitor.commands.errors import ExitCode
from billing_monitor.daemon.http import make_endpoint
from billing_monitor.daemon.leading import missed_runs
from billing_monitor.daemon.loop import Daemon
from billing_monitor.daemon.signals import SignalInbox
from billing_monitor.daemon.status_http import TOKEN_ENV, Auth, StatusPages
from billing_monitor.daemon.systemd import notifier_from_env, watchdog_interval
from billing_monitor.logs import LogFormat, Redactor, configure, describe_error
from billing_monitor.settings.credentials import load_credentials, secret_values
from billing_monitor.settings.load import load_settings
from billing_monitor.settings.model import Settings
from billing_monitor.settings.sections import is_loopback

log = logging.getLogger("billing_monitor.daemon")


def _loader(path: Path, env: MutableMapping[str, str], redactor: Redactor) -> Settings:
    """A reload reads the configuration and the credentials again (a rotated
    secret is picked up by SIGHUP); the secrets of receivers it adds are
    scrubbed from the logs and results from then on."""
    load_credentials(env)
    settings = load_settings(path, env)
    if load_credentials(env, settings.secret_credentials()):  # the receivers' own secrets
        settings = load_settings(path, env)
    redactor.add(secret_values(env, settings.secret_envs()))
    return settings


# One document serves every request for this long (monitor/daemon/status_http.py).
PAGE_MAX_AGE = 5.0


def status_pages(settings: Settings, env: Mapping[str, str],
                 current: Callable[[], Wiring],
                 role: Callable[[], Mapping[str, Any]]) -> StatusPages:
    """`/` and `/api/status` from the current wiring's state store."""

    cache = WindowCache()  # a refresh reads only the last two hours of history

    def document() -> dict[str, Any] | None:
        wiring = current()
        if not isinstance(wiring.alerting, Alerting):
            return None
        return settings_document(wiring.alerting.store, wiring.settings, utc_now(), cache,
                                 role())

    auth = Auth(env.get(TOKEN_ENV), is_loopback(settings.http.host))
    if auth.refuse_all:
        log.warning("the status page is served on %s without %s: it answers 403 to everyone",
                    settings.http.host, TOKEN_ENV)
    return StatusPages(document, auth, utc_now, PAGE_MAX_AGE)


def catch_up(holder: list[Daemon]) -> None:
    """At a change of leader: the checks whose run fell in the handover, once."""
    alerting = holder[0].wiring.alerting if holder else None
    if not isinstance(alerting, Alerting):
        return
    daemon = holder[0]
    try:
        missed_runs(daemon.scheduler, daemon.settings, alerting.store,
                    utc_now(), timedelta(seconds=3 * daemon.settings.state.lease_seconds))
    except Exception as exc:
        log.error("new leader: could not look for missed runs: %s", describe_error(exc))


def serve(config: Path, env: MutableMapping[str, str], *, log_format: LogFormat | None,
          log_level: str | None, run_now: bool = False) -> int:
    loaded = load_credentials(env)
    settings = load_settings(config, env)
    own = load_credentials(env, settings.secret_credentials())  # the receivers' secrets
    if own:
        loaded += own
        settings = load_settings(config, env)
    secrets = secret_values(env, settings.secret_envs())
    redactor = Redactor(secrets)  # the log handler's and the results': a reload adds to it
    configure(log_format or settings.logging.format, log_level or settings.logging.level,
              redactor, env=env)
    scrub = redactor.scrub
    if loaded:
        log.info("loaded credentials: %s", ", ".join(v.lower() for v in loaded))
    metrics = MonitorMetrics(prefix=metric_name("", settings.statsd.namespace))
    # The hooks act on the daemon's current wiring, which a reload replaces.
    holder: list[Daemon] = []
    hooks = build_hooks(settings, metrics, lambda: holder[0].wiring, env,
                        on_gain=lambda: catch_up(holder))
    notifier = notifier_from_env(env)
    daemon = Daemon(
        settings, load=lambda: _loader(config, env, redactor), metrics=metrics, hooks=hooks,
        build=lambda s, m: build_wiring(s, m, env, scrub=scrub, on_queued=hooks.wake),
        scrub=scrub, notifier=notifier, watchdog_s=watchdog_interval(env),
    )
    holder.append(daemon)
    try:
        endpoint = make_endpoint(settings.http, metrics.exposition, daemon.health,
                                 status_pages(settings, env, lambda: holder[0].wiring,
                                              hooks.leadership))
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.http.host, settings.http.port,
                  exc.strerror or exc)
        daemon.wiring.close()
        return ExitCode.UNAVAILABLE
    inbox = SignalInbox()
    inbox.install()
    endpoint.start()
    daemon.start(run_now=run_now)
    try:
        daemon.serve_forever(inbox)
    finally:
        finished = daemon.stop()
        endpoint.close()
        inbox.restore()
        inbox.close()
    log.info("stopped")
    if not finished:
        # A check or sink still holds a worker thread past the bound; the
        # interpreter would wait for it at exit. We promised a bounded stop.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(ExitCode.OK)
    return ExitCode.OK
