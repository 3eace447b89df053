"""Settings: one TOML file plus environment variables, validated once at
start-up into frozen models. Every problem names the file and the key."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from billing_monitor.alerts.config import (
    env_problems,
)
from billing_monitor.checks.base import CheckOptions
from billing_monitor.checks.errors import ConfigError
from billing_monitor.checks.names import CHECK_NAME
from billing_monitor.checks.registry import CHECK_TYPES
from billing_monitor.settings.model import CONFIG_ENV, DEFAULT_CONFIG, SECRET_KEYS, Settings
from billing_monitor.settings.routes import routing_problems, secret_problems
from billing_monitor.settings.rules import (
    MAX_CONFIG_BYTES,
    bool_problems,
    duplicate_metrics,
    environment_problems,
)
from billing_monitor.settings.sections import (
    DatabaseSection,
    is_host,
)
from billing_monitor.settings.urls import check_billing_url, check_url


def resolve_config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, then BILLING_MONITOR_CONFIG, then the system path."""
    if cli_value:
        return Path(cli_value)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG


def _format(where: str, prefix: tuple[Any, ...], err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (*prefix, *e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        last = str(e["loc"][-1]) if e["loc"] else ""
        echo = e["type"] not in ("extra_forbidden", "value_error")  # value errors quote it
        if "input" in e and last not in SECRET_KEYS and echo:
            shown = repr(e["input"])
            if len(shown) <= 80 and not isinstance(e["input"], dict):
                msg += f" (got {shown})"
        out.append(f"{where}: {loc or '<top>'}: {msg}")
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{path}: configuration file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a configuration file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration file: {exc.strerror}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, the most a "
                           "configuration file may be"])
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: malformed TOML: {exc}"]) from None


def _checks(where: str, raw: Any) -> tuple[dict[str, CheckOptions], list[str]]:
    if not isinstance(raw, dict):
        return {}, [f"{where}: checks: must be a table of [checks.NAME] tables"]
    checks: dict[str, CheckOptions] = {}
    problems: list[str] = []
    for name, table in raw.items():
        if not CHECK_NAME.fullmatch(name):
            problems.append(
                f"{where}: checks.{name}: a check name must be lower case letters, digits "
                "and '_', starting with a letter"
            )
            continue
        if not isinstance(table, dict):
            problems.append(f"{where}: checks.{name}: must be a table")
            continue
        kind = table.get("type", name)
        if kind not in CHECK_TYPES:
            known = ", ".join(sorted(CHECK_TYPES))
            what = f"unknown check type {kind!r}" if "type" in table else "required key is missing"
            problems.append(f"{where}: checks.{name}.type: {what} (known types: {known})")
            continue
        options = CHECK_TYPES[kind].options
        problems += bool_problems(where, options, table, ("checks", name))
        try:
            checks[name] = options.model_validate({**table, "type": kind})
        except ValidationError as err:
            problems.extend(_format(where, ("checks", name), err))
    if not raw:
        problems.append(f"{where}: checks: no checks configured (add a [checks.NAME] table)")
    return checks, problems + duplicate_metrics(where, checks)


def _env_overlay(raw: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Environment variables win over the file for hosts and secrets."""
    problems = []

    def put(section: str, key: str, value: Any) -> None:
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value

    for var, section, check in (("BILLING_MONITOR_DATABASE_URL", "database", check_billing_url),
                                ("BILLING_MONITOR_STATE_URL", "state", check_url)):
        if env.get(var):
            try:
                put(section, "url", check(env[var]))
            except ValueError as exc:  # the value may hold a password: never echoed
                problems.append(f"environment: {var}: {exc}")
    if env.get("DD_AGENT_HOST"):
        if is_host(env["DD_AGENT_HOST"]):
            put("statsd", "host", env["DD_AGENT_HOST"])
        else:
            problems.append("environment: DD_AGENT_HOST: not an IP address or host name")
    if env.get("DD_DOGSTATSD_PORT"):
        port = env["DD_DOGSTATSD_PORT"]
        if port.isdigit() and 1 <= int(port) <= 65535:
            put("statsd", "port", int(port))
        else:
            problems.append(f"environment: DD_DOGSTATSD_PORT: not a port number (got {port!r})")
    env_names = environment_problems(env)
    for var, key in (("DD_ENV", "env"), ("DD_SERVICE", "service")):
        if env.get(var) and not any(f": {var}:" in p for p in env_names):
            put("monitor", key, env[var])
    problems += env_names
    problems += env_problems(env)  # notifier secrets: checked here, kept out of Settings
    return problems


def _resolve_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, not the cwd."""
    u = make_url(url)
    db = u.database
    local = db and db != ":memory:" and not db.startswith("file:")
    if u.get_backend_name() == "sqlite" and local and not Path(str(db)).is_absolute():
        return u.set(database=str((base / str(db)).resolve())).render_as_string(False)
    return url


def parse_settings(
    raw: dict[str, Any], where: str, env: Mapping[str, str], base: Path | None = None
) -> Settings:
    raw = dict(raw)
    problems = _env_overlay(raw, env)
    if "source" in raw:  # reserved for the file name; not a setting
        problems.append(f"{where}: source: unknown key")
        del raw["source"]
    checks, check_problems = _checks(where, raw.pop("checks", {}))
    problems += check_problems
    problems += bool_problems(where, Settings, raw)
    settings = None
    try:
        settings = Settings.model_validate({**raw, "checks": checks, "source": where})
    except ValidationError as err:
        problems[:0] = _format(where, (), err)
    if problems or settings is None:
        raise ConfigError(problems)
    unknown = [f"{where}: silences.{i}.check: no check named {s.check!r}"
               for i, s in enumerate(settings.silences)
               if s.check != "*" and s.check not in settings.checks]
    unknown += routing_problems(settings, where) + secret_problems(settings, env)
    if settings.stripe.state_url is not None:  # the Stripe checks' store: a driver we have
        try:
            check_url(settings.stripe.state_url)
        except ValueError as exc:
            unknown.append(f"{where}: stripe.state_url: {exc}")
    if unknown:
        raise ConfigError(unknown)
    if base is not None:
        url = _resolve_sqlite(settings.database.url, base)
        settings = settings.model_copy(update={"database": DatabaseSection(url=url)})
        # Under systemd, state goes where the unit's StateDirectory= says.
        state_dir = Path(env["STATE_DIRECTORY"].split(":")[0]) if env.get(
            "STATE_DIRECTORY") else base
        state_url = _resolve_sqlite(settings.state.url, state_dir)
        settings = settings.model_copy(
            update={"state": settings.state.model_copy(update={"url": state_url})})
        if settings.stripe.state_url is not None:
            stripe = settings.stripe.model_copy(
                update={"state_url": _resolve_sqlite(settings.stripe.state_url, state_dir)})
            settings = settings.model_copy(update={"stripe": stripe})
    return settings


def load_settings(path: Path, env: Mapping[str, str]) -> Settings:
    raw = _read(path)
    return parse_settings(raw, str(path), env, base=path.resolve().parent)
