"""`billing-monitor run`: the loop (loop.py), schedules (scheduler.py), signals,
systemd notifications, the HTTP endpoint and the delivery loop; hooks.py is
where alerting plugs in."""
