"""A real PgBouncer in transaction mode in front of a test PostgreSQL server:
each transaction may run on a different server connection, so nothing that
lives in a session (advisory locks, SET, named prepared statements) survives
between transactions. Run as the `postgres` user when the suite runs as root
(pgbouncer refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers.postgres import PostgresServer, _as_owner, free_port


def available() -> bool:
    return shutil.which("pgbouncer") is not None or Path("/usr/sbin/pgbouncer").exists()


@contextmanager
def pgbouncer(server: PostgresServer) -> Iterator[PostgresServer]:
    """PgBouncer (pool_mode=transaction) in front of `server`, as a server
    description whose url() goes through it."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    root = Path(tempfile.mkdtemp(prefix="bhm-pgb-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    (root / "users.txt").write_text(f'"{server.user}" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 4\n"
        "ignore_startup_parameters = extra_float_digits,application_name\n"
        f"logfile = {root / 'pgbouncer.log'}\n")
    for f in root.iterdir():
        if os.geteuid() == 0:
            shutil.chown(f, "postgres", "postgres")
    proc = subprocess.Popen(_as_owner([binary, str(root / "pgbouncer.ini")]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("pgbouncer did not start: "
                                       + (root / "pgbouncer.log").read_text()) from None
                time.sleep(0.1)
        yield PostgresServer("127.0.0.1", port, server.user, server.datadir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
