"""Logs: JSON lines for journald and files, key=value lines in a terminal,
and no secret in either.

Every stdlib log record (ours, APScheduler's, httpx's...) goes through one
structlog `ProcessorFormatter`, so the redaction processor sees everything:
the message, the `extra` fields and the formatted traceback. Warnings and
uncaught exceptions in threads are routed through logging as well.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["auto", "json", "console"]
# scheme://user:password@host -> scheme://***@host
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")
REDACTED = "[REDACTED]"


class Redactor:
    """A structlog processor scrubbing known secret values and URL credentials
    from every string in the event, however deeply nested."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        """Secrets learnt later (a reload's new receivers): scrubbed from then on."""
        self._secrets = sorted({*self._secrets, *(s for s in secrets if s)}, key=len,
                               reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _URL_USERINFO.sub(r"\g<scheme>***@", text)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self._value(k): self._value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._value(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.scrub(repr(value))

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
        return {k: v if k.startswith("_") else self._value(v) for k, v in event.items()}


# syslog priorities: journald reads a "<N>" line prefix (SyslogLevelPrefix=),
# so `journalctl -p warning` works on our lines.
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}


class JournalPrefixed:
    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> str:
        level = str(event.get("level", "info"))
        return f"<{_PRIORITY.get(level, 6)}>{self._renderer(logger, name, event)}"


def resolve_format(fmt: LogFormat, stream: TextIO, env: Mapping[str, str]) -> str:
    """auto: JSON under journald ($JOURNAL_STREAM) or when not a terminal."""
    if fmt != "auto":
        return fmt
    if env.get("JOURNAL_STREAM") or not stream.isatty():
        return "json"
    return "console"


def configure(
    fmt: LogFormat,
    level: str,
    secrets: Iterable[str] | Redactor,
    *,
    env: Mapping[str, str],
    stream: TextIO | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one redacting handler."""
    out = stream if stream is not None else sys.stderr
    chosen = resolve_format(fmt, out, env)
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    if env.get("JOURNAL_STREAM"):
        renderer = JournalPrefixed(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            secrets if isinstance(secrets, Redactor) else Redactor(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    # APScheduler logs every job start and end at INFO; we log each run ourselves.
    logging.getLogger("apscheduler").setLevel(quiet)
    logging.getLogger("billing_monitor.runner").setLevel(quiet)
    # UDP is fire and forget: no agent listening is not an error (DESIGN).
    logging.getLogger("datadog.dogstatsd").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    threading.excepthook = _thread_excepthook
    return handler


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread else "?"
    logging.getLogger("billing_monitor").error(
        "uncaught exception in thread %s", name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def check_run_fields(result: dict[str, Any]) -> dict[str, Any]:
    """The structured fields of the one log line per check run (CheckResult.to_dict
    without the sample ids): check, status, duration_s, period, values, error."""
    values = {m["name"] + "".join(f",{t}" for t in m["tags"]): m["value"]
              for m in result["measurements"]}
    return {"check": result["check"], "status": result["status"],
            "duration_s": result["duration_s"], "period": result["period"],
            "values": values, "error": result["error"]}


def describe_error(exc: BaseException) -> str:
    """One line, the DBAPI's own message where there is one (no SQL dump)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]
