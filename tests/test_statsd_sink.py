"""The DogStatsD sink against a real UDP socket and a real Unix socket."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from billing_monitor.alerts.statsd import RecordingClient, StatsdSink, make_client
from billing_monitor.checks.contract import CheckResult, Evaluation, Measurement, Status
from billing_monitor.checks.period import current_period
from tests.peers.statsd import UdpListener

NOW = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)
PERIOD = current_period("iso_week", "UTC", NOW)


def _result(status: Status, *evals: Evaluation, error: str | None = None) -> CheckResult:
    return CheckResult("unbilled_orders", status, evals, 0.25, NOW, PERIOD, error=error,
                       tags=("team:billing",))


def test_gauges_status_duration_and_service_check_are_exact(statsd: UdpListener) -> None:
    sink = StatsdSink(make_client("127.0.0.1", statsd.port, None), "billing.",
                      ["env:prod", "service:billing"])
    m = Measurement("unbilled_orders", 14, ("region:eu",), ("1", "2"))
    sink.emit(_result(Status.CRIT, Evaluation(m, Status.CRIT, "> 10")))
    sink.close()
    base = "env:prod,service:billing,check:unbilled_orders,team:billing"
    assert statsd.receive(4) == [
        f"billing.unbilled_orders:14|g|#{base},region:eu",
        f"billing.check.status:2|g|#{base}",
        f"billing.check.duration:0.25|g|#{base}",
        f"_sc|billing.health|2|#{base}|m:unbilled_orders CRIT: unbilled_orders=14 (crit > 10)",
    ]


def test_unknown_result_sends_status_and_error_without_gauge(statsd: UdpListener) -> None:
    sink = StatsdSink(make_client("127.0.0.1", statsd.port, None), "", [])
    sink.emit(_result(Status.UNKNOWN, error="OperationalError: no such table: orders"))
    lines = statsd.receive(3)
    assert lines[0] == "check.status:3|g|#check:unbilled_orders,team:billing"
    assert lines[2].startswith("_sc|health|3|#check:unbilled_orders,team:billing|m:")
    assert "no such table: orders" in lines[2]


def test_agent_absent_raises_nothing_and_sending_resumes_when_it_is_back() -> None:
    # A bound-then-closed port: nothing listens, the kernel answers with ICMP.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = StatsdSink(make_client("127.0.0.1", port, None), "billing.", [])
    m = Measurement("unbilled_orders", 1)
    for _ in range(5):  # the second send would see ECONNREFUSED from the first
        sink.emit(_result(Status.OK, Evaluation(m, Status.OK)))
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the agent starts
    agent.bind(("127.0.0.1", port))
    agent.settimeout(10)
    try:
        sink.emit(_result(Status.WARN, Evaluation(Measurement("unbilled_orders", 7),
                                                  Status.WARN)))
        sink.close()
        first = agent.recv(65535).decode().splitlines()[0]
    finally:
        agent.close()
    assert first == "billing.unbilled_orders:7|g|#check:unbilled_orders,team:billing"


def test_unresolvable_agent_host_raises_nothing_and_everything_was_sent() -> None:
    client = RecordingClient(make_client("agent.invalid", 8125, None))
    sink = StatsdSink(client, "billing.", [])
    sink.emit(_result(Status.OK, Evaluation(Measurement("x", 1), Status.OK)))
    sink.close()
    tags = "#check:unbilled_orders,team:billing"
    assert client.sent == [f"gauge billing.x=1 {tags}", f"gauge billing.check.status=0 {tags}",
                           f"gauge billing.check.duration=0.25 {tags}",
                           f"service_check billing.health=0 {tags}"]


def test_unix_socket_path(tmp_path: Path) -> None:
    path = str(tmp_path / "dsd.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        sink = StatsdSink(make_client("ignored", 1, path), "billing.", ["env:prod"])
        sink.emit(_result(Status.OK, Evaluation(Measurement("failed_charges", 0), Status.OK)))
        sink.close()
        first = server.recv(65535).decode().splitlines()[0]
        assert first == "billing.failed_charges:0|g|#env:prod,check:unbilled_orders,team:billing"
    finally:
        server.close()
