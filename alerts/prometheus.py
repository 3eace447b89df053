"""Prometheus: the same numbers as DogStatsD, served on /metrics from our own
`CollectorRegistry` (never the process-global one).

`MonitorMetrics` owns every metric the daemon exposes; `PrometheusSink` feeds
the per-check ones from results. Other parts feed the rest through the
attributes (scheduler counters, outbox depth, Stripe request counts).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from billing_monitor.checks.contract import CheckResult, Status

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
# Check runs take milliseconds (SQL counts) to tens of seconds (timeouts).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def metric_name(prefix: str, name: str) -> str:
    """`billing.` + `check.status` -> `billing_check_status`."""
    return _INVALID.sub("_", prefix + name)


def tag_labels(tags: Iterable[str]) -> dict[str, str]:
    """DogStatsD `key:value` tags as labels; a bare tag becomes `key="true"`."""
    out: dict[str, str] = {}
    for tag in tags:
        key, _, value = tag.partition(":")
        key = _INVALID.sub("_", key)
        if key and not key.startswith("__"):
            out[key] = value if _ else "true"
    return out


class LastValues(Collector):
    """The latest measurements of each check, exposed as one gauge family per
    metric name. Label sets may differ within a family (SQL group-by columns);
    missing labels are exposed as empty strings."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._by_check: dict[str, list[tuple[str, dict[str, str], float]]] = {}

    def update(self, result: CheckResult, base: dict[str, str]) -> None:
        rows = [
            (metric_name(self._prefix, m.name), {**base, **tag_labels(m.tags)}, m.value)
            for m in result.measurements
        ]
        with self._lock:
            self._by_check[result.check] = rows

    def forget(self, keep: Iterable[str]) -> None:
        kept = set(keep)
        with self._lock:
            for check in [c for c in self._by_check if c not in kept]:
                del self._by_check[check]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            rows = [row for rs in self._by_check.values() for row in rs]
        names = sorted({name for name, _, _ in rows})
        for name in names:
            mine = [(labels, v) for n, labels, v in rows if n == name]
            keys = sorted({k for labels, _ in mine for k in labels})
            family = GaugeMetricFamily(name, f"Latest value measured by the check ({name})",
                                       labels=keys)
            for labels, value in mine:
                family.add_metric([labels.get(k, "") for k in keys], value)
            yield family


class MonitorMetrics:
    """Every Prometheus metric of the daemon, in one registry."""

    def __init__(self, prefix: str = "billing_", registry: CollectorRegistry | None = None) -> None:
        # `*_created` series double the output for no use to us (and to
        # Datadog's OpenMetrics check). The switch is process-wide in the client.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.prefix = prefix
        self.values = LastValues(prefix)
        self.checks_seen: set[str] = set()
        r.register(self.values)
        p = prefix
        self.check_status = Gauge(f"{p}check_status", "Status of the last run: 0 OK, 1 WARN, "
                                  "2 CRIT, 3 UNKNOWN", ["check"], registry=r)
        self.check_duration = Histogram(f"{p}check_duration_seconds", "Run duration of a check",
                                        ["check"], buckets=DURATION_BUCKETS, registry=r)
        self.check_runs = Counter(f"{p}check_runs", "Check runs by resulting status",
                                  ["check", "status"], registry=r)
        self.check_errors = Counter(f"{p}check_errors", "Check runs that could not complete "
                                    "(status UNKNOWN: error or timeout)", ["check"], registry=r)
        self.sink_errors = Counter(f"{p}sink_errors", "Sink deliveries that failed",
                                   ["sink"], registry=r)
        self.jobs_missed = Counter(f"{p}scheduler_jobs_missed", "Scheduled runs skipped because "
                                   "they started later than the misfire grace time",
                                   ["job"], registry=r)
        self.jobs_failed = Counter(f"{p}scheduler_jobs_failed", "Scheduled jobs that raised",
                                   ["job"], registry=r)
        self.jobs_scheduled = Gauge(f"{p}scheduler_jobs", "Jobs currently scheduled",
                                    registry=r)
        self.last_cycle = Gauge(f"{p}scheduler_last_cycle_timestamp_seconds",
                                "Unix time the last check run completed", registry=r)
        self.reloads = Counter(f"{p}config_reloads", "Configuration reloads (SIGHUP) by result",
                               ["result"], registry=r)
        # Fed by the alerting outbox dispatcher (monitor/daemon/hooks.py). The Stripe
        # checks' request counts are measurements (billing_stripe_requests).
        self.outbox_depth = Gauge(f"{p}outbox_depth", "Notifications waiting in the outbox",
                                  registry=r)
        self.outbox_oldest_age = Gauge(f"{p}outbox_oldest_age_seconds",
                                       "Age of the oldest notification waiting in the outbox",
                                       registry=r)
        self.outbox_dead = Gauge(f"{p}outbox_dead", "Notifications given up on (kept, logged) "
                                 "in the last keep_days", registry=r)
        self.receiver_depth = Gauge(f"{p}outbox_receiver_depth", "Notifications waiting in "
                                    "the outbox for one receiver", ["receiver"], registry=r)
        self.receiver_oldest_age = Gauge(f"{p}outbox_receiver_oldest_age_seconds",
                                         "Age of the oldest notification waiting for one "
                                         "receiver", ["receiver"], registry=r)
        self.receiver_dead = Gauge(f"{p}outbox_receiver_dead", "Notifications for one receiver "
                                   "given up on in the last keep_days", ["receiver"], registry=r)
        self.receivers_seen: set[str] = set()
        self.state_store_up = Gauge(f"{p}state_store_up", "1 while the alert state store takes "
                                    "writes, 0 when it does not (deleted, read-only, down)",
                                    registry=r)
        self.state_store_up.set(1)
        self.leader = Gauge(f"{p}leader", "1 while this instance is the active one (holds the "
                            "lease, or is the single instance), 0 while it stands by",
                            registry=r)
        self.lease_epoch = Gauge(f"{p}lease_epoch", "Epoch of the lease this instance last "
                                 "held (raised at every change of holder)", registry=r)

    def forget(self, keep: Iterable[str]) -> None:
        """After a reload: drop the last values and status of removed checks
        (counters and histograms keep their history, as Prometheus expects)."""
        kept = set(keep)
        self.values.forget(kept)
        for check in self.checks_seen - kept:
            self.check_status.remove(check)
        self.checks_seen &= kept

    def outbox(self, depth: int, oldest_age: float, dead: int,
               receivers: Mapping[str, tuple[int, float, int]]) -> None:
        """The outbox gauges, in all and per receiver (depth, oldest age, dead);
        a receiver seen before and absent now has cleared its backlog: 0."""
        self.outbox_depth.set(depth)
        self.outbox_oldest_age.set(oldest_age)
        self.outbox_dead.set(dead)
        self.receivers_seen |= receivers.keys()
        for name in self.receivers_seen:
            d, age, n = receivers.get(name, (0, 0.0, 0))
            self.receiver_depth.labels(name).set(d)
            self.receiver_oldest_age.labels(name).set(age)
            self.receiver_dead.labels(name).set(n)

    def missed(self, job: str) -> None:
        """A scheduled run was skipped (APScheduler EVENT_JOB_MISSED/MAX_INSTANCES)."""
        self.jobs_missed.labels(job).inc()

    def failed(self, job: str) -> None:
        """A scheduled job raised (EVENT_JOB_ERROR)."""
        self.jobs_failed.labels(job).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class PrometheusSink:
    """Mirrors the DogStatsD sink into `MonitorMetrics`; in memory, never fails."""

    name = "prometheus"

    def __init__(self, metrics: MonitorMetrics, tags: Iterable[str] = ()) -> None:
        self._m = metrics
        self._base = tag_labels(tags)

    def emit(self, result: CheckResult) -> None:
        m = self._m
        base = {**self._base, **tag_labels(result.tags), "check": result.check}
        m.values.update(result, base)
        m.check_status.labels(result.check).set(int(result.status))
        m.checks_seen.add(result.check)
        m.check_duration.labels(result.check).observe(result.duration_s)
        m.check_runs.labels(result.check, result.status.label).inc()
        if result.status is Status.UNKNOWN:
            m.check_errors.labels(result.check).inc()

    def close(self) -> None:
        return None
