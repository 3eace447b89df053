"""The sandbox seen from the real `billing-monitor` process (issue 9):
`validate --connect` against a least-privilege role and a role that can
write, and a check still running when the daemon stops is cancelled on the
server (pg_stat_activity), not left running after the process is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from billing_monitor.checking.billing_db import open_engine
from billing_monitor.commands.demo_data import populate
from tests import clock
from tests.helpers import cli, live_demo_db, settings_for
from tests.peers.postgres import PostgresServer

pytestmark = [pytest.mark.clock, pytest.mark.postgres]  # starts the real process

SECRET = "hunter2-connect"
ROLE = "bhm_readonly"


@pytest.fixture(scope="module")
def billing(pg_server: PostgresServer) -> Iterator[tuple[str, Engine]]:
    url = pg_server.fresh_database("connect")
    writer = open_engine(url, read_only=False)
    populate(writer, settings_for({"checks": {"unbilled_orders": {}}}), clock.now())
    writer.dispose()
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # docs/database-role.md, as written there
        if conn.execute(text(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'")).first():
            conn.execute(text(f"DROP OWNED BY {ROLE}"))  # left by an earlier run
            conn.execute(text(f"DROP ROLE {ROLE}"))
        for sql in (f"CREATE ROLE {ROLE} LOGIN PASSWORD '{SECRET}'",
                    f"ALTER ROLE {ROLE} SET default_transaction_read_only = on",
                    "REVOKE ALL ON DATABASE connect FROM PUBLIC",
                    f"GRANT CONNECT ON DATABASE connect TO {ROLE}",
                    f"GRANT USAGE ON SCHEMA public TO {ROLE}",
                    f"GRANT SELECT ON orders, billing_records, charge_attempts TO {ROLE}"):
            conn.execute(text(sql))
    yield url, admin
    admin.dispose()


def _config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "bm.toml"
    path.write_text(f'[database]\nurl = "{url}"\n[state]\nurl = "sqlite:///{tmp_path}/s.db"\n'
                    f"[checks.unbilled_orders]\n[checks.missing_billing_records]\n{extra}")
    return path


def _as(url: str, user: str) -> str:
    return url.replace("postgres@", f"{user}:{SECRET}@", 1)


def test_validate_connect_passes_for_a_role_that_can_only_read(
    tmp_path: Path, billing: tuple[str, Engine]
) -> None:
    r = cli("--config", str(_config(tmp_path, _as(billing[0], ROLE))), "validate", "--connect")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"as {ROLE}" in r.stdout
    assert "default_transaction_read_only = on" in r.stdout
    assert "checks.missing_billing_records.query: planned by the database" in r.stdout
    assert "WARNING" not in r.stdout and SECRET not in r.stdout + r.stderr


def test_validate_connect_warns_when_the_role_can_write(
    tmp_path: Path, billing: tuple[str, Engine]
) -> None:
    r = cli("--config", str(_config(tmp_path, _as(billing[0], "postgres"))), "validate",
            "--connect", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "can write: public.billing_records (INSERT,UPDATE,DELETE,TRUNCATE)" in r.stdout
    assert "superuser" in r.stdout and SECRET not in r.stdout + r.stderr


def test_validate_connect_exit_78_when_the_database_refuses_a_query(
    tmp_path: Path, billing: tuple[str, Engine]
) -> None:
    extra = '[checks.mine]\ntype = "sql"\nquery = "SELECT COUNT(*) FROM secrets"\n'
    r = cli("--config", str(_config(tmp_path, _as(billing[0], ROLE), extra)), "validate",
            "--connect")
    assert r.returncode == 78
    assert 'checks.mine.query: the database refuses it: relation "secrets" does not exist' in (
        r.stdout)


PAYMENT_CHECKS = (
    '[checks.volume]\ntype = "payment_volume"\nquery = """SELECT \'usd\' AS currency, '
    "COUNT(*) AS count, SUM(b.amount_cents) AS amount FROM billing_records b "
    'WHERE b.billed_at >= :window_start AND b.billed_at < :window_end"""\n'
    '[checks.fresh]\ntype = "payment_freshness"\nmax_silence_minutes = 60\nquery = """'
    "SELECT MAX(attempted_at) FROM charge_attempts WHERE status = 'succeeded' "
    'AND attempted_at <= :now"""\n')


def test_validate_connect_plans_the_payment_checks_queries_with_their_parameters(
    tmp_path: Path, billing: tuple[str, Engine]
) -> None:
    r = cli("--config", str(_config(tmp_path, _as(billing[0], ROLE), PAYMENT_CHECKS)),
            "validate", "--connect")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checks.volume.query: planned by the database" in r.stdout
    assert "checks.fresh.query: planned by the database" in r.stdout
    # A column that is not there, and a table the role may not read, are refused.
    broken = (PAYMENT_CHECKS.replace("b.billed_at >= :window_start", "b.paid_at >= :window_start")
              .replace("FROM charge_attempts", "FROM pg_authid, charge_attempts"))
    r = cli("--config", str(_config(tmp_path, _as(billing[0], ROLE), broken)),
            "validate", "--connect")
    assert r.returncode == 78, r.stdout + r.stderr
    assert ('checks.volume.query: the database refuses it: column b.paid_at does not exist'
            in r.stdout)
    assert "checks.fresh.query: the database refuses it: permission denied" in r.stdout


def test_validate_connect_exit_69_when_unreachable(tmp_path: Path) -> None:
    from tests.peers.postgres import free_port

    url = f"postgresql+psycopg://{ROLE}:{SECRET}@127.0.0.1:{free_port()}/billing"
    r = cli("--config", str(_config(tmp_path, url)), "validate", "--connect")
    assert r.returncode == 69
    assert "billing database postgresql+psycopg://bhm_readonly:***@" in r.stderr
    assert SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_validate_connect_on_sqlite_warns_about_a_writable_file(tmp_path: Path) -> None:
    db = live_demo_db(tmp_path)
    r = cli("--config", str(_config(tmp_path, f"sqlite:///{db}")), "validate", "--connect")
    assert r.returncode == 1 and "is writable by this user" in r.stdout
    db.chmod(0o444)
    if os.geteuid() != 0:  # root can write anything: the warning stays true
        r = cli("--config", str(_config(tmp_path, f"sqlite:///{db}")), "validate", "--connect")
        assert r.returncode == 0


def _active(admin: Engine) -> list[str]:
    with admin.connect() as conn:
        return [str(q) for q in conn.execute(text(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'billing-monitor' "
            "AND state = 'active'")).scalars()]


def test_a_check_running_when_the_daemon_stops_is_cancelled_on_the_server(
    tmp_path: Path, billing: tuple[str, Engine]
) -> None:
    url, admin = billing
    config = _config(tmp_path, _as(url, ROLE), (
        '[checks.slow]\ntype = "sql"\nquery = "SELECT COUNT(*) FROM pg_sleep(60) AS stop_probe"\n'
        "timeout_seconds = 120\n[daemon]\nshutdown_timeout_seconds = 1\n"
        "[http]\nenabled = false\n[statsd]\nenabled = false\n"))
    exe = Path(sys.executable).parent / "billing-monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "BILLING_"))}
    env.update(clock.process_env())
    proc = subprocess.Popen([str(exe), "--config", str(config), "run", "--run-now",
                             "--log-format", "json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any("stop_probe" in q for q in _active(admin)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the slow check never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    gone = time.monotonic() + 3
    while [q for q in _active(admin) if "stop_probe" in q] and time.monotonic() < gone:
        time.sleep(0.05)
    assert [q for q in _active(admin) if "stop_probe" in q] == []
    assert "Traceback" not in err and SECRET not in err
