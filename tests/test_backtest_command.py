"""`billing-monitor backtest` as a user runs it, over a SQLite billing database
with five weeks of steady payments (5 a minute) and two incidents on the last
day: a 30-minute full stop at 12:00 and a 40 % drop from 15:00 to 17:00."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import cli

pytestmark = pytest.mark.clock  # starts the real process: CI runs it on shifted clocks

DAY = datetime(2026, 11, 10, tzinfo=UTC)  # a Tuesday
STOP = DAY + timedelta(hours=12)
DROP = DAY + timedelta(hours=15)
QUERY = ("SELECT currency, COUNT(*) AS count, SUM(amount) AS amount FROM payments "
         "WHERE created_at >= :window_start AND created_at < :window_end GROUP BY currency")


def per_minute(at: datetime) -> int:
    if STOP <= at < STOP + timedelta(minutes=30):
        return 0
    if DROP <= at < DROP + timedelta(hours=2):  # 40 % fewer
        return 3
    return 5


def billing_db(tmp_path: Path) -> Path:
    path = tmp_path / "billing.db"
    rows = []
    for day in range(-35, 1):
        start = DAY + timedelta(days=day, hours=9)
        for m in range(10 * 60):
            at = start + timedelta(minutes=m)
            # As SQLAlchemy writes a UTC timestamp to SQLite (compared as text)
            rows += [("usd", 1000, f"{at + timedelta(seconds=10 * i):%Y-%m-%d %H:%M:%S.%f}")
                     for i in range(per_minute(at))]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE payments (currency TEXT, amount INTEGER, created_at TEXT)")
        db.execute("CREATE INDEX ix_payments_created ON payments (created_at)")
        db.executemany("INSERT INTO payments VALUES (?, ?, ?)", rows)
    return path


def config(tmp_path: Path, db: Path, query: str = QUERY) -> Path:
    path = tmp_path / "bm.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{db}"\n'
                    f'[checks.volume]\ntype = "payment_volume"\nquery = "{query}"\n'
                    '[checks.unbilled_orders]\n')
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("backtest")
    return config(tmp, billing_db(tmp))


def test_prints_every_alert_and_resolve(setup: Path) -> None:
    r = cli("--config", str(setup), "backtest", "volume", "--from", "2026-11-10T10:00",
            "--to", "2026-11-10T18:30", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    events = [(c["event"], c["at"][11:16]) for c in out["changes"]]
    # The stop: the 10-minute window (baseline 50) is 80 % short after 8
    # minutes (12:08); four runs in a row (trigger_after = 4) alert at 12:11.
    # The hour's band is 300 - 4 * sqrt(300 + (0.05 * 300)^2) = 208.35: the
    # hour is under it while it holds 19 stopped minutes or more, until 13:11;
    # above it from 13:12, resolved after sixty runs (resolve_after = 60) at
    # 14:11. The drop takes 2 a minute off: under the band after 46 minutes
    # (15:46), alert at 15:49; after 17:00 the hour is 180 + 2x, above the band
    # from 17:15, resolved at 18:14.
    assert events == [("alert", "12:11"), ("resolve", "14:11"),
                      ("alert", "15:49"), ("resolve", "18:14")]
    assert out["changes"][0]["detail"] == (
        "usd count over 10 min: 100% below the baseline 50 (alert at 80%)")
    assert out["runs"] == 8 * 60 + 30 and out["still_alerting"] == []


def test_text_output_and_a_quiet_day(setup: Path) -> None:
    r = cli("--config", str(setup), "backtest", "volume", "--from", "2026-11-09",
            "--to", "2026-11-10", "--step", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "volume: 0 alert(s) over 288 replayed runs"


def test_bad_command_lines_are_64(setup: Path) -> None:
    def run(*args: str) -> tuple[int, str]:
        r = cli("--config", str(setup), "backtest", *args)
        return r.returncode, r.stderr

    code, err = run("volum", "--from", "2026-11-09", "--to", "2026-11-10")
    assert code == 64 and "unknown check: volum" in err
    code, err = run("unbilled_orders", "--from", "2026-11-09", "--to", "2026-11-10")
    assert code == 64 and "is of type unbilled_orders" in err
    code, err = run("volume", "--from", "2026-11-10", "--to", "2026-11-09")
    assert code == 64 and "is not after --from" in err
    code, err = run("volume", "--from", "yesterday", "--to", "2026-11-09")
    assert code == 64 and "not an ISO 8601 date or time: 'yesterday'" in err


def test_a_query_that_cannot_run_exits_3(tmp_path: Path, setup: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    r = cli("--config", str(config(tmp_path, db)), "backtest", "volume",
            "--from", "2026-11-09", "--to", "2026-11-10")
    assert r.returncode == 3
    assert "backtest volume:" in r.stdout and "no such table: payments" in r.stdout
