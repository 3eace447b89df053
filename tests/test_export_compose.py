"""deploy/docker-compose.yml: valid YAML, the monitor beside a Datadog agent
that accepts DogStatsD from other containers, secrets only from the
environment. (Docker itself is not available where the tests run.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from billing_monitor.settings.credentials import SECRET_ENV
from billing_monitor.settings.sections import HttpSection

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def test_compose_runs_the_monitor_beside_a_datadog_agent() -> None:
    doc = yaml.safe_load(COMPOSE.read_text("utf-8"))
    monitor, agent = doc["services"]["billing-monitor"], doc["services"]["datadog-agent"]
    env = monitor["environment"]
    assert env["DD_AGENT_HOST"] == "datadog-agent" and env["DD_DOGSTATSD_PORT"] == "8125"
    assert agent["environment"]["DD_DOGSTATSD_NON_LOCAL_TRAFFIC"] == "true"
    assert agent["environment"]["DD_API_KEY"].startswith("${DATADOG_API_KEY")
    assert "run" in monitor["command"] and "datadog-agent" in monitor["depends_on"]
    assert f":{HttpSection().port}/healthz" in " ".join(monitor["healthcheck"]["test"])
    assert (ROOT / "deploy" / monitor["build"]["dockerfile"].removeprefix("deploy/")).exists()


def test_every_secret_comes_from_the_environment() -> None:
    env = yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]["billing-monitor"]["environment"]
    for var in SECRET_ENV:
        assert re.fullmatch(r"\$\{" + var + r"(:[-?].*)?\}", env[var]), var
