"""What ends a command with a documented exit code and no traceback (README
'Exit codes'); `ConfigError` (78) lives with the settings it judges."""

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


class UsageError(Exception):
    """The command line is invalid."""


class Unavailable(Exception):
    """A peer the command needs (the state store) is unreachable: exit 69."""
