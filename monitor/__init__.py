"""Billing Health Monitor (`billing_monitor`): checks measure (checks/), alerts
deliver (alerts/), and this package decides and runs: settings/, alerting/,
checking/, daemon/, the one assembly.py and the commands/."""

__version__ = "0.1.0"
