"""/metrics and /healthz over real HTTP on loopback, parsed by the Prometheus
parser; the Prometheus sink fed real results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from billing_monitor.alerts.prometheus import (
    MonitorMetrics,
    PrometheusSink,
    metric_name,
    tag_labels,
)
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from billing_monitor.daemon.http import HttpEndpoint, NullEndpoint, make_endpoint
from billing_monitor.settings.sections import HttpSection

NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)
PERIOD = current_period("iso_week", "UTC", NOW)


def result(check: str, status: Status, *measurements: Measurement) -> CheckResult:
    return CheckResult(check, status, tuple(Evaluation(m, status) for m in measurements), 0.25,
                       NOW, PERIOD, error="boom" if status is Status.UNKNOWN else None)


class Health:
    def __init__(self) -> None:
        self.answer: tuple[bool, dict[str, Any]] = (True, {"status": "ok", "reasons": []})

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        return self.answer


@pytest.fixture
def served() -> Iterator[tuple[MonitorMetrics, Health, HttpEndpoint]]:
    metrics, health = MonitorMetrics(), Health()
    endpoint = HttpEndpoint("127.0.0.1", 0, metrics.exposition, health)
    endpoint.start()
    yield metrics, health, endpoint
    endpoint.close()


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_mirror_the_statsd_gauges_and_parse(
    served: tuple[MonitorMetrics, Health, HttpEndpoint],
) -> None:
    metrics, _, endpoint = served
    sink = PrometheusSink(metrics, ["env:test", "service:billing", "team:billing"])
    sink.emit(result("unbilled_orders", Status.CRIT, Measurement("unbilled_orders", 14)))
    sink.emit(result("orders_by_status", Status.OK,
                     Measurement("orders", 480, ("status:active",)),
                     Measurement("orders", 6, ("status:cancelled",))))
    sink.emit(result("failed_charges", Status.UNKNOWN))
    sink.emit(result("payment_failure_rate", Status.OK,
                     Measurement("stripe.payment_failure_rate", 0.02),
                     Measurement("stripe.requests", 4)))
    metrics.outbox(2, 30.5, 0, {"slack": (2, 30.5, 0)})
    metrics.outbox(3, 31.5, 1, {"pagerduty": (1, 0.5, 0), "teams": (2, 31.5, 1)})
    r = httpx.get(f"{endpoint.address}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = families(r.text)
    unbilled = fams["billing_unbilled_orders"]
    assert unbilled.type == "gauge"
    assert [(s.labels, s.value) for s in unbilled.samples] == [
        ({"check": "unbilled_orders", "env": "test", "service": "billing", "team": "billing"}, 14)
    ]
    orders = {s.labels["status"]: s.value for s in fams["billing_orders"].samples}
    assert orders == {"active": 480, "cancelled": 6}
    status = {s.labels["check"]: s.value for s in fams["billing_check_status"].samples}
    assert status == {"unbilled_orders": 2, "orders_by_status": 0, "failed_charges": 3,
                      "payment_failure_rate": 0}
    assert fams["billing_check_duration_seconds"].type == "histogram"
    errors = [s for s in fams["billing_check_errors"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in errors] == [({"check": "failed_charges"}, 1)]
    assert fams["billing_outbox_depth"].samples[0].value == 3
    assert fams["billing_outbox_oldest_age_seconds"].samples[0].value == 31.5
    assert fams["billing_outbox_dead"].samples[0].value == 1
    # Per receiver; Slack's backlog has cleared since the last pass: 0, not gone.
    per = {(f, s.labels["receiver"]): s.value for f in ("depth", "oldest_age_seconds", "dead")
           for s in fams[f"billing_outbox_receiver_{f}"].samples}
    assert per == {("depth", "pagerduty"): 1, ("depth", "slack"): 0, ("depth", "teams"): 2,
                   ("oldest_age_seconds", "pagerduty"): 0.5,
                   ("oldest_age_seconds", "slack"): 0, ("oldest_age_seconds", "teams"): 31.5,
                   ("dead", "pagerduty"): 0, ("dead", "slack"): 0, ("dead", "teams"): 1}
    assert fams["billing_stripe_requests"].type == "gauge"
    assert fams["billing_stripe_requests"].samples[0].value == 4
    # One TYPE line per family: Prometheus refuses an exposition that repeats one.
    types = [line.split()[2] for line in r.text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))


def test_metrics_use_their_own_registry() -> None:
    MonitorMetrics()
    MonitorMetrics()  # a second one does not clash: nothing in the global registry
    assert REGISTRY.get_sample_value("billing_outbox_depth") is None


def test_a_reload_forgets_removed_checks() -> None:
    metrics = MonitorMetrics()
    sink = PrometheusSink(metrics)
    sink.emit(result("gone", Status.OK, Measurement("gone", 1)))
    sink.emit(result("kept", Status.WARN, Measurement("kept", 2)))
    metrics.forget(["kept"])
    fams = families(metrics.exposition().decode())
    assert "billing_gone" not in fams and "billing_kept" in fams
    assert [s.labels["check"] for s in fams["billing_check_status"].samples] == ["kept"]


def test_healthz_is_200_when_healthy_and_503_with_reasons(
    served: tuple[MonitorMetrics, Health, HttpEndpoint],
) -> None:
    _, health, endpoint = served
    r = httpx.get(f"{endpoint.address}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    health.answer = (False, {"status": "unhealthy", "reasons": ["scheduler is not running"]})
    r = httpx.get(f"{endpoint.address}/healthz")
    assert r.status_code == 503
    assert json.loads(r.text)["reasons"] == ["scheduler is not running"]
    assert httpx.get(f"{endpoint.address}/nope").status_code == 404


def test_a_failing_probe_is_a_500_not_a_dead_server() -> None:
    def broken() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("probe bug")

    endpoint = HttpEndpoint("127.0.0.1", 0, MonitorMetrics().exposition, broken)
    endpoint.start()
    try:
        assert httpx.get(f"{endpoint.address}/healthz").status_code == 500
        assert httpx.get(f"{endpoint.address}/metrics").status_code == 200
    finally:
        endpoint.close()


def test_disabled_endpoint_is_a_no_op() -> None:
    endpoint = make_endpoint(HttpSection(enabled=False), lambda: b"", Health())
    assert isinstance(endpoint, NullEndpoint)
    endpoint.start()
    endpoint.close()


def test_default_bind_is_loopback() -> None:
    assert HttpSection().host == "127.0.0.1"


def test_tag_and_metric_name_mapping() -> None:
    assert metric_name("billing.", "check.status") == "billing_check_status"
    assert tag_labels(["env:prod", "canary", "a-b:c:d", "__x:y"]) == {
        "env": "prod", "canary": "true", "a_b": "c:d"}


def test_an_ipv6_loopback_host_binds() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this kernel")
    try:
        endpoint = HttpEndpoint("::1", 0, MonitorMetrics().exposition, Health())
    except OSError as exc:
        pytest.skip(f"::1 not available here: {exc}")
    endpoint.start()
    try:
        assert httpx.get(f"{endpoint.address}/healthz").status_code == 200
    finally:
        endpoint.close()
