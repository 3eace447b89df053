"""Hostile configurations and environment values (issue 9): each ends with
exit 78, a message naming the file (or the environment variable) and the
key, no traceback, and no secret anywhere in the output."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from billing_monitor.commands.cli import main
from tests.helpers import cli

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

SECRET = "hunter2"
CHECK = "[checks.unbilled_orders]\n"
STRIPE = "[checks.subscriptions_past_due]\n"
KEY = "a" * 31
SQL = '[checks.mine]\ntype = "sql"\nquery = "SELECT COUNT(*) FROM orders"\n'
HOOK = f"https://hooks.example.com/services/T0/B0/{SECRET}"
ENV_VARS = ("DD_DOGSTATSD_PORT", "DD_AGENT_HOST", "DD_ENV", "DD_SERVICE", "STRIPE_API_KEY",
            "BILLING_MONITOR_DATABASE_URL", "BILLING_MONITOR_STATE_URL", "SLACK_WEBHOOK_URL",
            "GOOGLE_CHAT_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "BILLING_MONITOR_PING_URL",
            "BILLING_MONITOR_HEARTBEAT_URL")

# (id, file content, environment, substrings the message must hold)
CORPUS: list[tuple[str, str, dict[str, str], list[str]]] = [
    # names that would change a dedup key or break a datagram
    ("service-slash", '[monitor]\nservice = "bill/ing"\n' + CHECK, {}, ["monitor.service:"]),
    ("service-newline", '[monitor]\nservice = "billing\\n"\n' + CHECK, {}, ["monitor.service:"]),
    ("service-upper", '[monitor]\nservice = "Billing"\n' + CHECK, {}, ["monitor.service:"]),
    ("service-space", '[monitor]\nservice = "bill ing"\n' + CHECK, {}, ["monitor.service:"]),
    ("service-long", f'[monitor]\nservice = "{"b" * 64}"\n' + CHECK, {}, ["monitor.service:"]),
    ("env-pipe", '[monitor]\nenv = "prod|c"\n' + CHECK, {}, ["monitor.env:"]),
    ("env-comma", '[monitor]\nenv = "prod,team:x"\n' + CHECK, {}, ["monitor.env:"]),
    ("env-hash", '[monitor]\nenv = "prod#1"\n' + CHECK, {}, ["monitor.env:"]),
    ("env-empty", '[monitor]\nenv = ""\n' + CHECK, {}, ["monitor.env:"]),
    ("env-unicode", '[monitor]\nenv = "prød"\n' + CHECK, {}, ["monitor.env:"]),
    ("dd-service-slash", CHECK, {"DD_SERVICE": "bill/ing"}, ["environment: DD_SERVICE:"]),
    ("dd-env-newline", CHECK, {"DD_ENV": "prod\nx"}, ["environment: DD_ENV:"]),
    ("dd-env-space", CHECK, {"DD_ENV": "prod x"}, ["environment: DD_ENV:"]),
    ("check-tag-newline", CHECK + 'tags = ["team:billing\\n"]\n', {},
     ["checks.unbilled_orders.tags:"]),
    ("check-tag-pipe", CHECK + 'tags = ["team|x"]\n', {}, ["checks.unbilled_orders.tags:"]),
    ("check-tag-digit", CHECK + 'tags = ["1team"]\n', {}, ["checks.unbilled_orders.tags:"]),
    ("check-tag-unicode", CHECK + 'tags = ["team:bïlling"]\n', {},
     ["checks.unbilled_orders.tags:"]),
    ("statsd-tag-comma", '[statsd]\ntags = ["a,b"]\n' + CHECK, {}, ["statsd.tags:"]),
    ("statsd-tag-long", f'[statsd]\ntags = ["t{"x" * 200}"]\n' + CHECK, {}, ["statsd.tags:"]),
    ("metric-double-dot", SQL + 'metric = "orders..count"\n', {}, ["checks.mine.metric:"]),
    ("metric-trailing-dot", SQL + 'metric = "orders."\n', {}, ["checks.mine.metric:"]),
    ("metric-newline", SQL + 'metric = "orders\\n"\n', {}, ["checks.mine.metric:"]),
    ("metric-reserved-status", SQL + 'metric = "check.status"\n', {},
     ["checks.mine.metric:", "collide"]),
    ("metric-reserved-stripe", SQL + 'metric = "stripe.requests"\n', {},
     ["checks.mine.metric:", "collide"]),
    ("metric-reserved-health", SQL + 'metric = "health"\n', {}, ["checks.mine.metric:"]),
    ("check-name-newline", '[checks."orders\\n"]\ntype = "sql"\nquery = "SELECT 1"\n', {},
     ["a check name must be"]),
    ("metric-duplicate", SQL + 'metric = "orders"\n[checks.other]\ntype = "sql"\n'
     'query = "SELECT 1"\nmetric = "orders"\n', {},
     ["checks.other.metric: 'orders' is already the metric of check 'mine'"]),
    ("metric-duplicate-builtin", CHECK + '[checks.mine]\ntype = "sql"\nquery = "SELECT 1"\n'
     'metric = "unbilled_orders"\n', {}, ["checks.mine.metric:", "already the metric"]),
    # schedules that never fire
    ("cron-feb-30", CHECK + 'schedule = "0 0 30 2 *"\n', {},
     ["checks.unbilled_orders.schedule:", "never fires"]),
    ("cron-feb-31", CHECK + 'schedule = "0 6 31 2 *"\n', {}, ["never fires"]),
    ("cron-short-months-31", CHECK + 'schedule = "0 0 31 4,6,9,11 *"\n', {}, ["never fires"]),
    # drivers
    ("driver-unknown", f'[database]\nurl = "nosuch://u:{SECRET}@h/db"\n' + CHECK, {},
     ["database.url: unknown database driver 'nosuch'"]),
    ("driver-typo", f'[database]\nurl = "postgresql+psycopgg://u:{SECRET}@h/db"\n' + CHECK,
     {}, ["database.url: unknown database driver 'postgresql+psycopgg'"]),
    ("driver-missing", f'[database]\nurl = "postgresql+psycopg2://u:{SECRET}@h/db"\n' + CHECK,
     {}, ["database.url:", "postgresql+psycopg2"]),
    ("driver-other-backend", f'[database]\nurl = "mysql+pymysql://u:{SECRET}@h/db"\n' + CHECK,
     {}, ["database.url:", "mysql+pymysql"]),
    ("state-driver", f'[state]\nurl = "postgresql+nope://u:{SECRET}@h/db"\n' + CHECK, {},
     ["state.url: unknown database driver"]),
    ("env-state-driver", CHECK, {"BILLING_MONITOR_STATE_URL": f"nosuch://u:{SECRET}@h/x"},
     ["environment: BILLING_MONITOR_STATE_URL: unknown database driver"]),
    ("env-database-driver", CHECK,
     {"BILLING_MONITOR_DATABASE_URL": f"mysql://u:{SECRET}@h/x"},
     ["environment: BILLING_MONITOR_DATABASE_URL:"]),
    ("env-database-newline", CHECK,
     {"BILLING_MONITOR_DATABASE_URL": f"postgresql+psycopg://u:{SECRET}@h/x\nfoo"},
     ["environment: BILLING_MONITOR_DATABASE_URL: not a database URL"]),
    # empty queries
    ("query-empty", '[checks.mine]\ntype = "sql"\nquery = ""\n', {},
     ["checks.mine.query: the query is empty"]),
    ("query-comment", '[checks.mine]\ntype = "sql"\nquery = "-- TODO"\n', {},
     ["checks.mine.query: the query is empty"]),
    ("query-blank-override", CHECK + 'query = "   "\n', {},
     ["checks.unbilled_orders.query: the query is empty"]),
    ("sample-query-empty", SQL + 'sample_query = ";"\n', {},
     ["checks.mine.sample_query: the query is empty"]),
    # booleans are not numbers
    ("sample-limit-true", "[monitor]\nsample_limit = true\n" + CHECK, {},
     ["monitor.sample_limit: must be a number, not true"]),
    ("statsd-port-true", "[statsd]\nport = true\n" + CHECK, {},
     ["statsd.port: must be a number"]),
    ("timeout-true", CHECK + "timeout_seconds = true\n", {},
     ["checks.unbilled_orders.timeout_seconds: must be a number"]),
    ("threshold-true", CHECK + "[checks.unbilled_orders.thresholds]\ncritical = true\n", {},
     ["checks.unbilled_orders.thresholds.critical: must be a number"]),
    ("workers-false", "[daemon]\nmax_workers = false\n" + CHECK, {},
     ["daemon.max_workers: must be a number, not false"]),
    ("outbox-attempts-true", "[outbox]\nmax_attempts = true\n" + CHECK, {},
     ["outbox.max_attempts: must be a number"]),
    ("alert-trigger-true", CHECK + "[checks.unbilled_orders.alert]\ntrigger_after = true\n",
     {}, ["checks.unbilled_orders.alert.trigger_after: must be a number"]),
    # hosts
    ("http-any-address", '[http]\nhost = "0.0.0.0"\n' + CHECK, {},
     ["http.allow_remote: must be true to serve on host '0.0.0.0'"]),
    ("http-any-ipv6", '[http]\nhost = "::"\n' + CHECK, {}, ["http.allow_remote:"]),
    ("http-lan", '[http]\nhost = "10.1.2.3"\n' + CHECK, {}, ["http.allow_remote:"]),
    ("http-host-space", '[http]\nhost = "bad host"\n' + CHECK, {},
     ["http.host: 'bad host' is not an IP address or host name"]),
    ("http-host-port", '[http]\nhost = "127.0.0.1:9465"\n' + CHECK, {}, ["http.host:"]),
    ("http-host-empty", '[http]\nhost = ""\n' + CHECK, {}, ["http.host:"]),
    ("http-host-url", '[http]\nhost = "http://localhost"\n' + CHECK, {}, ["http.host:"]),
    ("statsd-host-newline", '[statsd]\nhost = "agent\\nx"\n' + CHECK, {}, ["statsd.host:"]),
    ("dd-agent-host-newline", CHECK, {"DD_AGENT_HOST": "agent\r\nx"},
     ["environment: DD_AGENT_HOST: not an IP address or host name"]),
    # secrets with control characters: named, never shown
    ("slack-crlf", CHECK, {"SLACK_WEBHOOK_URL": HOOK + "\r\nX-Evil: 1"},
     ["environment: SLACK_WEBHOOK_URL: holds a space or control character"]),
    ("slack-escape", CHECK, {"SLACK_WEBHOOK_URL": HOOK + "\x1b[2J"},
     ["environment: SLACK_WEBHOOK_URL: holds a space or control character"]),
    ("slack-no-host", CHECK, {"SLACK_WEBHOOK_URL": "https:///" + SECRET},
     ["environment: SLACK_WEBHOOK_URL: must be an http(s):// URL with a host"]),
    ("google-chat-newline", CHECK,
     {"GOOGLE_CHAT_WEBHOOK_URL": f"https://chat.example.com/v1/spaces/x?key={SECRET}\nz"},
     ["environment: GOOGLE_CHAT_WEBHOOK_URL: holds a space or control character"]),
    ("ping-space", CHECK, {"BILLING_MONITOR_PING_URL": f"https://hc.example.com/{SECRET} x"},
     ["environment: BILLING_MONITOR_PING_URL: holds a space"]),
    ("heartbeat-tab", CHECK,
     {"BILLING_MONITOR_HEARTBEAT_URL": f"https://hc.example.com/{SECRET}\tx"},
     ["environment: BILLING_MONITOR_HEARTBEAT_URL: holds a space"]),
    ("routing-key-cr", CHECK, {"PAGERDUTY_ROUTING_KEY": KEY[:15] + "\r" + "b" * 16},
     ["environment: PAGERDUTY_ROUTING_KEY: must be a 32-character"]),
    ("routing-key-unicode-digits", CHECK, {"PAGERDUTY_ROUTING_KEY": KEY + "\u0661"},
     ["environment: PAGERDUTY_ROUTING_KEY: must be a 32-character"]),
    ("stripe-key-crlf", STRIPE, {"STRIPE_API_KEY": f"rk_test_{SECRET}\r\nX-Evil: 1"},
     ["environment: STRIPE_API_KEY: holds control characters"]),
]


def _run(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         env: dict[str, str]) -> tuple[int, str, str]:
    for key in ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(path), "validate"])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 60
    assert len({c[0] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("content", "env", "needles"),
                         [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_hostile_config_exits_78_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    content: str, env: dict[str, str], needles: list[str],
) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(content)
    code, out, err = _run(path, monkeypatch, capsys, env)
    assert code == 78, err
    assert out == ""
    assert err.startswith("billing-monitor: configuration error:\n")
    if not any(n.startswith("environment:") for n in needles):
        assert f"{path}: " in err
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err
    assert SECRET not in err


def test_a_configuration_file_over_the_cap_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(CHECK + "# " + "x" * (1024 * 1024) + "\n")
    code, _out, err = _run(path, monkeypatch, capsys, {})
    assert code == 78 and f"{path}: larger than 1024 KiB" in err


def test_remote_http_needs_the_opt_in_and_says_so(tmp_path: Path) -> None:
    from billing_monitor.settings.sections import HttpSection

    assert HttpSection(host="0.0.0.0", allow_remote=True).allow_remote
    assert HttpSection(host="localhost").host == "localhost"
    assert HttpSection(host="::1").host == "::1"
    assert HttpSection(enabled=False, host="0.0.0.0").enabled is False


@pytest.mark.parametrize("case", ["service-slash", "cron-feb-30", "driver-typo",
                                  "sample-limit-true", "slack-crlf", "http-any-address"])
def test_as_the_real_process_validate_and_check_exit_78(tmp_path: Path, case: str) -> None:
    _id, content, env, needles = next(c for c in CORPUS if c[0] == case)
    path = tmp_path / "hostile.toml"
    path.write_text(content)
    for command in ("validate", "check"):
        r = cli("--config", str(path), command, env=env)
        assert r.returncode == 78, r.stderr
        assert all(n in r.stderr for n in needles)
        assert "Traceback" not in r.stderr and SECRET not in r.stderr + r.stdout


SQL_CASES = tomllib.loads(
    (Path(__file__).parent / "fixtures" / "hostile" / "sql.toml").read_text())["case"]


@pytest.mark.parametrize("case", SQL_CASES, ids=[c["id"] for c in SQL_CASES])
def test_hostile_query_in_the_file_exits_78(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    case: dict[str, Any],
) -> None:
    # The password of the configured database never shows, whatever is refused.
    path = tmp_path / "hostile.toml"
    path.write_text(f'[database]\nurl = "postgresql+psycopg://m:{SECRET}@127.0.0.1:1/b"\n'
                    f'[checks.vandal]\ntype = "sql"\nquery = {json.dumps(case["query"])}\n')
    code, out, err = _run(path, monkeypatch, capsys, {})
    assert code == 78 and out == ""
    assert f"{path}: checks.vandal.query: " in err and case["refused"] in err
    assert "Traceback" not in err and SECRET not in err
