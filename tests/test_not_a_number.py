"""A value is never healthy by accident (issue 8): a check that returns NaN
or an infinity is UNKNOWN with a clear error (a NaN compares false with every
threshold, so it used to be OK), a NaN or infinite threshold is a
configuration error (`critical = nan` switched alerting off), and `--json`
output is strict JSON. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli
from tests.peers.postgres import PostgresServer

pytestmark = pytest.mark.clock  # starts the real process


def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _check(tmp_path: Path, url: str, query: str, thresholds: str = "critical = 10",
           comparator: str = ">") -> tuple[int, Any, str]:
    cfg = tmp_path / "bm.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[statsd]\nenabled = false\n'
                   f'[checks.value]\ntype = "sql"\nquery = "{query}"\n'
                   f'thresholds = {{ {thresholds}, comparator = "{comparator}" }}\n')
    r = cli("--config", str(cfg), "check", "--json")
    return r.returncode, _strict(r.stdout) if r.stdout else None, r.stderr


@pytest.mark.parametrize(("query", "shown"), [
    ("SELECT 'NaN'::float8", "nan"),
    ("SELECT '-Infinity'::float8", "-inf"),
    ("SELECT 'Infinity'::float8", "inf"),
])
@pytest.mark.parametrize("comparator", [">", "<"])
def test_nan_and_infinities_are_unknown_on_postgres(
    tmp_path: Path, pg_server: PostgresServer, query: str, shown: str, comparator: str,
) -> None:
    code, doc, err = _check(tmp_path, pg_server.url("postgres"), query, comparator=comparator)
    assert code == 3, err
    [res] = doc["results"]
    assert res["status"] == "UNKNOWN" and res["measurements"] == []
    assert res["error"] == f"ValueError: value is {shown}, not a finite number"


def test_an_infinite_value_is_unknown_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    code, doc, _ = _check(tmp_path, f"sqlite:///{db}", "SELECT -1e999")
    assert code == 3
    assert doc["results"][0]["error"] == "ValueError: value is -inf, not a finite number"


@pytest.mark.parametrize("level", ["nan", "inf", "-inf"])
def test_a_threshold_that_is_not_a_finite_number_is_a_configuration_error(
    tmp_path: Path, level: str,
) -> None:
    db = tmp_path / "billing.db"
    sqlite3.connect(db).close()
    code, doc, err = _check(tmp_path, f"sqlite:///{db}", "SELECT 25", f"critical = {level}")
    assert (code, doc) == (78, None)
    assert "checks.value.thresholds.critical" in err and "Traceback" not in err


def test_a_recovery_level_that_is_nan_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bm.toml"
    cfg.write_text('[checks.value]\ntype = "sql"\nquery = "SELECT 1"\n'
                   "[checks.value.alert]\nrecovery = nan\n")
    r = cli("--config", str(cfg), "validate")
    assert r.returncode == 78 and "checks.value.alert.recovery" in r.stderr
