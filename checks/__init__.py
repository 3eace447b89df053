"""Measuring: the check contract and everything a check is (options,
thresholds, the alert policy as data, schedules, periods) and the check
types. The ground: imports nothing else of the product."""
