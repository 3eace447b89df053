"""The routing table built from the settings, and the configuration errors
only the whole configuration shows: a route or the default naming an unknown
receiver or check, a receiver no route uses, a receiver's secret that is
malformed. The table itself, and how an alert is routed: alerts/routing.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from billing_monitor.alerts.config import env_problems
from billing_monitor.alerts.receivers import LEGACY
from billing_monitor.alerts.routing import CheckFacts, RoutingTable, build_table, problems
from billing_monitor.settings.model import Settings

# The built-in channels' old variables (their receivers' secrets).
LEGACY_ENV = {"pagerduty": "PAGERDUTY_ROUTING_KEY", "slack": "SLACK_WEBHOOK_URL",
              "google_chat": "GOOGLE_CHAT_WEBHOOK_URL"}
URL_SECRETS = ("slack", "google_chat", "teams")  # kinds whose secret is a webhook URL


def check_facts(settings: Settings) -> dict[str, CheckFacts]:
    return {name: CheckFacts(name, o.type, tuple(o.tags)) for name, o in settings.checks.items()}


def kinds(settings: Settings) -> dict[str, str]:
    return {**{n: n for n in LEGACY}, **{n: r.kind for n, r in settings.receivers.items()}}


def routing_table(settings: Settings, legacy_configured: Iterable[str]) -> RoutingTable:
    """`legacy_configured`: the built-in channels this process has (their
    variables set): the default route when `[routing] default` is not given."""
    return build_table(settings.routes, settings.routing, kinds(settings), legacy_configured)


def legacy_configured(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """The built-in channels that are enabled and whose old variable is set."""
    return [name for name, var in LEGACY_ENV.items()
            if getattr(settings, name).enabled and env.get(var, "").strip()]


def routing_problems(settings: Settings, where: str) -> list[str]:
    return problems(settings.routes, settings.routing, settings.receivers, LEGACY,
                    check_facts(settings), where)


def secret_problems(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """A receiver's secret variable, when set, must be well formed (a URL for
    the webhooks, a 32-character key for PagerDuty): named, never shown."""
    out = []
    for name, r in settings.receivers.items():
        value = env.get(r.secret_env, "").strip()
        if not value:
            continue
        if r.kind in URL_SECRETS:
            fake = {"SLACK_WEBHOOK_URL": value}
            out += [p.replace("SLACK_WEBHOOK_URL", f"{r.secret_env} (receivers.{name})")
                    for p in env_problems(fake)]
        elif r.kind == "pagerduty":
            fake = {"PAGERDUTY_ROUTING_KEY": value}
            out += [p.replace("PAGERDUTY_ROUTING_KEY", f"{r.secret_env} (receivers.{name})")
                    for p in env_problems(fake)]
        elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            out.append(f"environment: {r.secret_env} (receivers.{name}): holds a control "
                       "character (a pasted line break?)")
    return out


def missing_receiver_secrets(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """What `validate` and `run` refuse to start without: a receiver's secret;
    a built-in channel a route names, unset; with routes, a default route that
    sends what no route matches nowhere."""
    out = [f"environment: {r.secret_env}: required by receivers.{name} ({r.kind}); or the "
           f"systemd credential {r.credential}"
           for name, r in settings.receivers.items() if not env.get(r.secret_env, "").strip()]
    named = {n for r in settings.routes for n in r.receivers} | set(settings.routing.default or ())
    have = legacy_configured(settings, env)
    out += [f"environment: {LEGACY_ENV[n]}: required by the routes, which name the built-in "
            f"channel {n!r} (or it is disabled in [{n}])"
            for n in LEGACY if n in named and n not in have]
    if settings.routes and settings.routing.default is None and not have:
        out.append(f"{settings.source}: routing.default: no built-in channel is set, so alerts "
                   "no route matches would go nowhere; name the receivers for them")
    return out
