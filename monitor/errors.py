"""Errors that end a command with a documented exit code and no traceback."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of `billing-monitor`, documented in the README."""

    OK = 0
    WARN = 1
    CRIT = 2
    UNKNOWN = 3
    USAGE = 64  # EX_USAGE: bad command line
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a peer the command needs is unreachable
    SOFTWARE = 70  # EX_SOFTWARE: a bug; reported without secrets
    CONFIG = 78  # EX_CONFIG: the configuration is invalid


class ConfigError(Exception):
    """The configuration is invalid. Each problem names the file and the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageError(Exception):
    """The command line is invalid."""
