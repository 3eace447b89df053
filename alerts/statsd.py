"""DogStatsD: a gauge per measurement, a status gauge, the run's duration and a
service check per check run. UDP or a Unix socket; fire and forget, so an
absent agent costs nothing and raises nothing."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from billing_monitor.checks.contract import CheckResult, Status

if TYPE_CHECKING:
    from datadog.dogstatsd.base import DogStatsd


def _dogstatsd() -> type[DogStatsd]:
    """datadog's DogStatsd, without running `datadog/__init__.py`, which
    imports the package's HTTP API client and `requests` (+14 MiB RSS, most
    of datadog's import time; docs/benchmarks.md section 8). The package is
    entered as a namespace of its own files, so its submodules import as
    usual; nothing here uses `datadog.api` or `datadog.initialize`."""
    if "datadog" not in sys.modules:
        spec = importlib.util.find_spec("datadog")
        if spec is not None and spec.submodule_search_locations is not None:
            package = types.ModuleType("datadog")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules["datadog"] = package
    from datadog.dogstatsd.base import DogStatsd

    return DogStatsd


def make_client(host: str, port: int, socket_path: str | None) -> DogStatsd:
    client = _dogstatsd()(
        host=None if socket_path else host,
        port=None if socket_path else port,
        socket_path=socket_path,
        disable_telemetry=True,  # no datadog.dogstatsd.client.* metrics of our own
        origin_detection_enabled=False,  # datagrams stay exactly what we send
    )
    # DogStatsd adds env/service/version tags from DD_* variables by itself; the
    # settings already took those into account, so the tags we pass are all.
    client.constant_tags = []
    return client


class StatsdClient(Protocol):
    """The part of DogStatsd the sink uses (so tests and the demo can wrap it)."""

    def gauge(self, metric: str, value: float, *, tags: list[str] | None = None) -> Any: ...

    def service_check(
        self, check_name: str, status: int, *, tags: list[str] | None = None,
        message: str | None = None,
    ) -> Any: ...

    def close_socket(self) -> None: ...


class RecordingClient:
    """Forwards to a real client and keeps a readable line per datagram sent."""

    def __init__(self, inner: StatsdClient) -> None:
        self._inner = inner
        self.sent: list[str] = []

    def gauge(self, metric: str, value: float, *, tags: list[str] | None = None) -> Any:
        self.sent.append(f"gauge {metric}={value:g} #{','.join(tags or [])}")
        return self._inner.gauge(metric, value, tags=tags)

    def service_check(
        self, check_name: str, status: int, *, tags: list[str] | None = None,
        message: str | None = None,
    ) -> Any:
        self.sent.append(f"service_check {check_name}={status} #{','.join(tags or [])}")
        return self._inner.service_check(check_name, status, tags=tags, message=message)

    def close_socket(self) -> None:
        self._inner.close_socket()


def summary(result: CheckResult) -> str:
    if result.error:
        return f"{result.check} could not run: {result.error}"
    parts = [
        f"{e.measurement.name}={e.measurement.value:g}"
        + (f" ({e.status.label.lower()} {e.threshold})" if e.threshold else "")
        for e in result.evaluations
    ]
    return f"{result.check} {result.status.label}: " + (", ".join(parts) or "no measurements")


def number(value: float) -> float | int:
    """14.0 goes on the wire as 14, as a person reading datagrams expects."""
    return int(value) if float(value).is_integer() else value


class StatsdSink:
    name = "statsd"

    def __init__(self, client: StatsdClient, namespace: str, tags: Sequence[str]) -> None:
        self._client = client
        self._ns = namespace
        self._tags = list(tags)

    def emit(self, result: CheckResult) -> None:
        base = [*self._tags, f"check:{result.check}", *result.tags]
        for m in result.measurements:
            self._client.gauge(self._ns + m.name, number(m.value), tags=[*base, *m.tags])
        self._client.gauge(self._ns + "check.status", int(result.status), tags=base)
        self._client.gauge(self._ns + "check.duration", round(result.duration_s, 6), tags=base)
        self._client.service_check(
            self._ns + "health",
            int(result.status),
            tags=base,
            message=None if result.status is Status.OK else summary(result),
        )

    def close(self) -> None:
        self._client.close_socket()
