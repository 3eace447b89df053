"""Delivering: the sink and notifier contracts with their null objects, the
metric sinks (DogStatsD, Prometheus) and the notifiers (PagerDuty, Slack,
Google Chat, liveness pings). Imports only the checks layer."""
