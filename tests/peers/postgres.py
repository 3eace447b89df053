"""A throwaway PostgreSQL server: initdb in a temporary directory, started on
a free port, stopped and removed afterwards. initdb and postgres refuse to run
as root, so as root they run as the `postgres` user (DESIGN: testing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"PostgreSQL's {name} is not installed (not on PATH)")


def available() -> bool:
    try:
        _binary("initdb")
        _binary("pg_ctl")
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    datadir: Path

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def fresh_database(self, name: str) -> str:
        """An empty database `name` (dropped first if a test left one): its URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="bhm-pg-"))
    datadir = root / "data"
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    log = root / "server.log"
    opts = {"listen_addresses": "127.0.0.1", "port": str(port), "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off",
            "unix_socket_directories": str(root), **(settings or {})}
    o = " ".join(f"-c {k}={v}" for k, v in opts.items())
    try:
        subprocess.run(
            _as_owner([_binary("initdb"), "-D", str(datadir), "-U", user, "-A", "trust",
                       "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120,
        )
        subprocess.run(
            _as_owner([_binary("pg_ctl"), "-D", str(datadir), "-l", str(log), "-o", o,
                       "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=90,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield PostgresServer("127.0.0.1", port, user, datadir)
    finally:
        if datadir.exists():
            subprocess.run(
                _as_owner([_binary("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w",
                           "stop"]),
                capture_output=True, timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)
