"""`python -m billing_monitor` is `billing-monitor`."""

from billing_monitor.commands.cli import main

main()
