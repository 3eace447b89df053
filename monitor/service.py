"""`billing-monitor run`: assemble the daemon, serve until SIGTERM, exit 0.

A bad configuration at start-up raises ConfigError (exit 78, and systemd's
RestartPreventExitStatus=78 keeps it from restarting in a loop).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from alerts.prometheus import MonitorMetrics, metric_name
from monitor.credentials import load_credentials, secret_values
from monitor.daemon import Daemon
from monitor.errors import ExitCode
from monitor.hooks import build_hooks
from monitor.httpd import make_endpoint
from monitor.lifecycle import SignalInbox
from monitor.logs import LogFormat, Redactor, configure
from monitor.settings import Settings, load_settings
from monitor.systemd import notifier_from_env, watchdog_interval
from monitor.wiring import build_wiring

log = logging.getLogger("billing_monitor.daemon")


def _loader(path: Path) -> Settings:
    load_credentials(os.environ)
    return load_settings(path, os.environ)


def serve(config: Path, *, log_format: LogFormat | None, log_level: str | None,
          run_now: bool = False) -> int:
    loaded = load_credentials(os.environ)
    settings = load_settings(config, os.environ)
    secrets = secret_values(os.environ)
    configure(log_format or settings.logging.format, log_level or settings.logging.level, secrets)
    scrub = Redactor(secrets).scrub
    if loaded:
        log.info("loaded credentials: %s", ", ".join(v.lower() for v in loaded))
    metrics = MonitorMetrics(prefix=metric_name("", settings.statsd.namespace))
    # The hooks act on the daemon's current wiring, which a reload replaces.
    holder: list[Daemon] = []
    hooks = build_hooks(settings, metrics, lambda: holder[0].wiring)
    notifier = notifier_from_env(os.environ)
    daemon = Daemon(
        settings, load=lambda: _loader(config), metrics=metrics, hooks=hooks,
        build=lambda s, m: build_wiring(s, m, scrub=scrub, on_queued=hooks.wake), scrub=scrub,
        notifier=notifier, watchdog_s=watchdog_interval(os.environ),
    )
    holder.append(daemon)
    try:
        endpoint = make_endpoint(settings.http, metrics.exposition, daemon.health)
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
