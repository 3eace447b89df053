"""A corpus of bad configurations: each must end with exit 78 (EX_CONFIG), one
clear message naming the file and the key, no traceback, no secret echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_monitor.commands.cli import main
from tests.helpers import cli

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

GOOD_CHECK = "[checks.unbilled_orders]\n"

# (id, file content, environment, substrings the message must hold)
CORPUS: list[tuple[str, str, dict[str, str], list[str]]] = [
    ("malformed-toml", '[monitor]\nservice = "billing\n', {}, ["malformed TOML", "line 2"]),
    ("unknown-section", "[monitorr]\n" + GOOD_CHECK, {}, ["monitorr: unknown key"]),
    ("unknown-key", '[statsd]\nhots = "x"\n' + GOOD_CHECK, {}, ["statsd.hots: unknown key"]),
    ("port-type", '[statsd]\nport = "eighty"\n' + GOOD_CHECK, {},
     ["statsd.port: Input should be a valid integer", "'eighty'"]),
    ("port-range", "[statsd]\nport = 70000\n" + GOOD_CHECK, {}, ["statsd.port:", "65535"]),
    ("namespace", '[statsd]\nnamespace = "Billing"\n' + GOOD_CHECK, {}, ["statsd.namespace:"]),
    ("timezone", '[period]\ntimezone = "Mars/Olympus"\n' + GOOD_CHECK, {},
     ["period.timezone: unknown time zone 'Mars/Olympus'"]),
    ("period-kind", '[period]\nkind = "fortnight"\n' + GOOD_CHECK, {},
     ["period.kind:", "'iso_week'"]),
    ("period-offset", "[period]\noffset = 1\n" + GOOD_CHECK, {}, ["period.offset:"]),
    ("cron-range", GOOD_CHECK + 'schedule = "61 * * * *"\n', {},
     ["checks.unbilled_orders.schedule: invalid cron expression '61 * * * *'"]),
    ("cron-fields", GOOD_CHECK + 'schedule = "* * *"\n', {},
     ["checks.unbilled_orders.schedule: invalid cron expression '* * *'"]),
    ("unknown-type", '[checks.x]\ntype = "sqll"\n', {},
     ["checks.x.type: unknown check type 'sqll'", "known types:"]),
    ("no-type", "[checks.weekly_sum]\n", {}, ["checks.weekly_sum.type: required key is missing"]),
    ("check-name", '[checks.Unbilled-Orders]\ntype = "unbilled_orders"\n', {},
     ["checks.Unbilled-Orders: a check name must be"]),
    ("check-unknown-key", GOOD_CHECK + "treshold = 3\n", {},
     ["checks.unbilled_orders.treshold: unknown key"]),
    ("threshold-type", GOOD_CHECK + '[checks.unbilled_orders.thresholds]\ncritical = "ten"\n', {},
     ["checks.unbilled_orders.thresholds.critical: Input should be a valid number"]),
    ("comparator", GOOD_CHECK + '[checks.unbilled_orders.thresholds]\ncomparator = "=>"\n', {},
     ["checks.unbilled_orders.thresholds.comparator:"]),
    ("warn-beyond-crit",
     GOOD_CHECK + "[checks.unbilled_orders.thresholds]\nwarning = 20\ncritical = 10\n", {},
     ["checks.unbilled_orders.thresholds: warning (20) is beyond critical (10)"]),
    ("sql-no-query", '[checks.mine]\ntype = "sql"\n', {},
     ["checks.mine.query: required key is missing"]),
    ("sql-unknown-param",
     '[checks.mine]\ntype = "sql"\nquery = "SELECT 1 WHERE x > :start_date"\n', {},
     ["checks.mine.query: unknown query parameter(s) :start_date", ":period_start"]),
    ("sql-metric", '[checks.mine]\ntype = "sql"\nquery = "SELECT 1"\nmetric = "Bad Metric"\n', {},
     ["checks.mine.metric:"]),
    ("timeout", GOOD_CHECK + "timeout_seconds = -1\n", {},
     ["checks.unbilled_orders.timeout_seconds: Input should be greater than 0"]),
    ("tag", GOOD_CHECK + 'tags = ["team billing"]\n', {}, ["checks.unbilled_orders.tags:"]),
    ("no-checks", '[monitor]\nenv = "prod"\n', {}, ["checks: no checks configured"]),
    ("checks-not-table", "checks = 5\n", {}, ["checks: must be a table"]),
    ("check-not-table", "[checks]\nunbilled_orders = 1\n", {},
     ["checks.unbilled_orders: must be a table"]),
    ("sample-limit", "[monitor]\nsample_limit = 1000\n" + GOOD_CHECK, {},
     ["monitor.sample_limit: Input should be less than or equal to 100"]),
    ("database-url", '[database]\nurl = "not a url"\n' + GOOD_CHECK, {},
     ["database.url: not a database URL"]),
    ("env-port", GOOD_CHECK, {"DD_DOGSTATSD_PORT": "abc"},
     ["environment: DD_DOGSTATSD_PORT: not a port number (got 'abc')"]),
    ("env-database-url", GOOD_CHECK, {"BILLING_MONITOR_DATABASE_URL": "pg//hunter2@db"},
     ["environment: BILLING_MONITOR_DATABASE_URL: not a database URL"]),
    ("reserved-key", 'source = "x"\n' + GOOD_CHECK, {}, ["source: unknown key"]),
]


def _run(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         env: dict[str, str]) -> tuple[int, str]:
    for key in ("DD_DOGSTATSD_PORT", "DD_AGENT_HOST", "BILLING_MONITOR_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(path), "validate"])
    out = capsys.readouterr()
    assert out.out == ""
    return int(exc.value.code or 0), out.err


@pytest.mark.parametrize(("content", "env", "needles"),
                         [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_config_exits_78_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    content: str, env: dict[str, str], needles: list[str],
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    code, err = _run(path, monkeypatch, capsys, env)
    assert code == 78
    assert err.startswith("billing-monitor: configuration error:\n")
    if not any(n.startswith("environment:") for n in needles):
        assert f"{path}: " in err
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err
    assert "hunter2" not in err


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 20


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[statsd]\nport = 0\n[checks.unbilled_orders]\nschedule = "x"\n'
                    '[checks.y]\ntype = "nope"\n')
    code, err = _run(path, monkeypatch, capsys, {})
    assert code == 78
    assert "statsd.port" in err and "checks.unbilled_orders.schedule" in err
    assert "checks.y.type" in err


def test_database_password_in_a_bad_url_is_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[database]\nurl = "postgresql://u:hunter2@db/x?sslmode"\nbogus = 1\n'
                    + GOOD_CHECK)
    code, err = _run(path, monkeypatch, capsys, {})
    assert code == 78 and "database.bogus: unknown key" in err and "hunter2" not in err


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
def test_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path = tmp_path / "cfg.toml"
    expected = "configuration file not found"
    if kind == "directory":
        path.mkdir()
        expected = "is a directory"
    elif kind == "not-utf8":
        path.write_bytes(b'[monitor]\nenv = "\xff\xfe"\n')
        expected = "not UTF-8 text"
    code, err = _run(path, monkeypatch, capsys, {})
    assert code == 78 and f"{path}: {expected}" in err


def test_as_a_subprocess_no_traceback_and_exit_78(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[checks.unbilled_orders]\nschedule = "every thursday"\n')
    for command in ("validate", "check"):
        r = cli("--config", str(path), command)
        assert r.returncode == 78
        assert "checks.unbilled_orders.schedule: invalid cron expression" in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
