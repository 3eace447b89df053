"""Benchmark the billing SQL checks against the naive reference.

    python -m bench.sql_checks --sizes 100000,1000000,10000000 \\
        --engines sqlite,postgresql [--runs 3]

For each engine and size: build (or reuse) the database, save the query
plans, then run each implementation `--runs` times, each run in a fresh
subprocess (`bench.measure`), alternating implementations. Fails if the two
disagree on a count. Writes a markdown table to stdout and, with the JSON and
the plans, to `--out` (default bench/results/). PostgreSQL is a throwaway
server started for the run (tests/peers/postgres.py) unless --postgres-url
names one (its maintenance database; bench databases are created beside it).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import build, dataset, explain
from bench.report import Row, markdown, summarise

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
# Give the throwaway server room to cache the 10M-order tables (24 GiB machine).
PG_SETTINGS = {"shared_buffers": "4GB", "effective_cache_size": "16GB", "work_mem": "64MB"}


def run_child(impl: str, url: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.measure", impl, url],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} on {url} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure(engine: str, n: int, url: str, runs: int, naive: bool,
            impls: list[str] | None = None) -> list[Row]:
    impls = [i for i in (impls or ["fast", "naive"]) if naive or i == "fast"]
    results: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
    for _ in range(runs):
        for impl in impls:
            results[impl].append(run_child(impl, url))
            log(f"  {engine} {n:,} {impl}: {results[impl][-1]['seconds']:.3f}s")
    counts = {i: r[0]["counts"] for i, r in results.items()}
    if len({json.dumps(c, sort_keys=True) for c in counts.values()}) != 1:
        raise RuntimeError(f"implementations disagree on {engine} {n}: {counts}")
    return [summarise(engine, n, impl, results[impl]) for impl in impls]


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(ROOT))
    from tests.peers.postgres import postgres_server

    with postgres_server(PG_SETTINGS) as server:
        yield server.url()


def database(engine: str, n: int, data_dir: Path, pg_url: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{build.build_sqlite(data_dir, n)}"
    return build.build_postgres(pg_url, n)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sql_checks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000,10000000")
    p.add_argument("--engines", default="sqlite,postgresql")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--impls", default="fast,naive",
                   help="implementations to run: fast, naive, article (bench/implementations.py)")
    p.add_argument("--naive-max", type=int, default=10**9,
                   help="skip the references (naive, article) above this many orders")
    p.add_argument("--data-dir", type=Path, default=RESULTS / "data",
                   help="where SQLite databases are cached between runs")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--postgres-url", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    rows: list[Row] = []
    builds: list[dict[str, Any]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        pg_url = stack.enter_context(postgres(args.postgres_url)) if "postgresql" in engines else ""
        for engine in engines:
            for n in sizes:
                started = time.perf_counter()
                url = database(engine, n, args.data_dir, pg_url)
                builds.append({"engine": engine, "orders": n,
                               "seconds": round(time.perf_counter() - started, 1)})
                log(f"{engine} {n:,}: database ready in {builds[-1]['seconds']}s")
                (args.out / f"plans-{engine}-{n}.txt").write_text(explain.plans(url))
                rows.extend(measure(engine, n, url, args.runs, n <= args.naive_max,
                                   args.impls.split(",")))
    table = markdown(rows)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "period": dataset.PERIOD.label,
        "data_version": dataset.VERSION,
        "postgres_settings": PG_SETTINGS if not args.postgres_url else "external",
    }
    stamp = "-".join(engines) + "-" + "_".join(str(s) for s in sizes)
    (args.out / f"sql_checks-{stamp}.md").write_text(table)
    (args.out / f"sql_checks-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "builds": builds, "rows": [r.as_dict() for r in rows]}, indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
