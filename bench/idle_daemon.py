"""An idle daemon's memory and CPU (issue 10: <= 60 MB, <= 0.2 % over 10 min).

    .venv/bin/python -m bench.idle_daemon [--seconds 600] BIN [BIN ...]

Each BIN is a `billing-monitor` (say, of a venv with the old code and one
with this code); all are started at once, each on its own copy of the demo
database (`billing-monitor demo --dir`), its own SQLite state store and HTTP
port, with the three billing checks every 5 minutes and DogStatsD to a port
nobody listens on. After 20 s of start-up, CPU (user+sys from /proc) and RSS
are read, and again after `--seconds`; then each daemon gets SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

CONFIG = """[monitor]
service = "billing"
env = "idle-bench"
[database]
url = "sqlite:///billing-demo.db"
[period]
kind = "iso_week"
timezone = "UTC"
[statsd]
host = "127.0.0.1"
port = 9
[http]
host = "127.0.0.1"
port = {port}
[state]
url = "sqlite:///state.db"
[checks.unbilled_orders]
schedule = "*/5 * * * *"
[checks.missing_billing_records]
schedule = "*/5 * * * *"
[checks.failed_charges]
schedule = "*/5 * * * *"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(binary: str) -> subprocess.Popen[bytes]:
    where = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    subprocess.run([binary, "demo", "--dir", str(where)], check=True,
                   stdout=subprocess.DEVNULL)
    config = where / "idle.toml"
    config.write_text(CONFIG.format(port=free_port()))
    return subprocess.Popen([binary, "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle_daemon")
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("binaries", nargs="+", metavar="BIN")
    args = p.parse_args(argv)
    daemons = [start(b) for b in args.binaries]
    time.sleep(20)
    first = [(cpu_seconds(d.pid), time.monotonic(), rss_mib(d.pid)) for d in daemons]
    time.sleep(args.seconds)
    print("| daemon | RSS after start-up (MiB) | RSS at the end (MiB) | CPU (s) | CPU share |")
    print("|---|---:|---:|---:|---:|")
    for binary, daemon, (cpu0, t0, rss0) in zip(args.binaries, daemons, first, strict=True):
        cpu = cpu_seconds(daemon.pid) - cpu0
        share = 100 * cpu / (time.monotonic() - t0)
        print(f"| {binary} | {rss0:.1f} | {rss_mib(daemon.pid):.1f} | {cpu:.2f} | "
              f"{share:.3f} % |")
        daemon.terminate()
        daemon.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
