"""Billing Health Monitor: the daemon, CLI, settings and runner."""

__version__ = "0.1.0"
