"""Run one implementation once, in this (fresh) process, and print a JSON
line: the counts, the wall time of the checks, and this process's peak RSS
before and after them (`python -m bench.measure fast|naive URL`).

The wall time covers opening the engine, connecting and running the three
checks. Peak RSS is the process's high-water mark (VmHWM). Interpreter
start-up, imports and the driver's first connection (dialect initialisation)
are done before the clock starts, the same for both implementations: a daemon
pays them once, not per run."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from sqlalchemy import text

from bench.implementations import IMPLEMENTATIONS
from billing_monitor.checking.billing_db import open_engine


def _peak_mib() -> float:
    """This process's peak RSS. VmHWM belongs to the address space, so it starts
    afresh at exec; ru_maxrss on Linux is inherited from the parent across
    fork and exec, so a child of a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str]) -> int:
    impl, url = argv
    run = IMPLEMENTATIONS[impl]
    warm = open_engine(url)
    with warm.connect() as conn:
        conn.execute(text("SELECT 1"))
    warm.dispose()
    before = _peak_mib()
    start = time.perf_counter()
    counts = run(url)
    seconds = time.perf_counter() - start
    print(json.dumps({"impl": impl, "counts": counts, "seconds": seconds,
                      "rss_before_mib": before, "peak_rss_mib": _peak_mib()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
