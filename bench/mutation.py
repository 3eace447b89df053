"""Mutation testing of the alerting core with mutmut (docs/mutation.md).

    .venv/bin/python -m bench.mutation [--max-children N] [--report-only]

Runs `mutmut run` with the [tool.mutmut] settings of pyproject.toml (the
modules in `only_mutate`, the in-process tests in the test selection), then
prints the score per module and every surviving mutant. mutmut keeps its
results in mutants/ (ignored by git): a second run only tests what changed.
Too slow for every CI run (about 30 minutes on 2 cores); run it weekly and
after changing the alerting core, and record the result in docs/mutation.md.

mutmut names a mutant after its file's path and looks for that name in the
running code, so it must mutate files laid out as the installed package
(`billing_monitor/...`), not the repository's mapped folders: the run works on
a copy in that layout (billing_monitor/, ignored by git, removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
TREE = ROOT / "billing_monitor"  # the installed layout, for mutmut (see above)
MAPPED = {"": "monitor", "checks": "checks", "alerts": "alerts", "config": "config"}
TARGET = 0.90  # share of mutants killed, per module and overall (issue 15)

# mutmut's exit codes per mutant (mutmut/stats.py): a test failure kills it.
# A mutant that made the tests hang is stopped by SIGXCPU (-24, 24, 152) or at
# mutmut's own timeout (36, 255): a timeout, which counts as killed.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 37: "killed", None: "not checked",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}


def statuses() -> dict[str, dict[str, str]]:
    """module -> mutant name -> status, from mutmut's .meta files."""
    out: dict[str, dict[str, str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        module = str(meta.relative_to(MUTANTS)).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[module] = {name: STATUS.get(code, "suspicious") for name, code in codes.items()}
    return out


def score(counts: Counter[str]) -> float:
    """Killed (a timeout counts: the mutant hung the tests) over all mutants:
    a mutant no test reaches is a survivor too."""
    total = sum(counts.values()) - counts["not checked"] - counts["skipped"]
    return (counts["killed"] + counts["timeout"]) / total if total else 1.0


def report(results: dict[str, dict[str, str]]) -> tuple[str, bool]:
    lines = ["| module | mutants | killed | survived | no tests | timeout | not run | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    overall: Counter[str] = Counter()
    ok = True
    for module, by_name in results.items():
        c = Counter(by_name.values())
        overall += c
        # A mutant not run proves nothing: a partial run does not pass.
        ok = ok and score(c) >= TARGET and not c["not checked"]
        lines.append(f"| {module} | {sum(c.values())} | {c['killed']} | {c['survived']} | "
                     f"{c['no tests']} | {c['timeout']} | {c['not checked']} | {score(c):.1%} |")
    lines.append(f"| **all** | {sum(overall.values())} | {overall['killed']} | "
                 f"{overall['survived']} | {overall['no tests']} | {overall['timeout']} | "
                 f"{overall['not checked']} | **{score(overall):.1%}** |")
    survivors = [f"- `{name}` ({status})" for by_name in results.values()
                 for name, status in by_name.items() if status in ("survived", "no tests")]
    return "\n".join([*lines, "", "Survivors (`mutmut show NAME` prints the diff):",
                      *survivors]), ok and score(overall) >= TARGET


@contextmanager
def installed_layout() -> Iterator[Path]:
    """A copy of the package as pip installs it (modification times kept, so
    that mutmut re-mutates only what changed), removed afterwards."""
    try:
        for inside, folder in MAPPED.items():
            shutil.copytree(ROOT / folder, TREE / inside, dirs_exist_ok=True,
                            copy_function=shutil.copy2,
                            ignore=shutil.ignore_patterns("__pycache__"))
        yield TREE
    finally:
        shutil.rmtree(TREE, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-children", type=int, default=2, help="parallel test processes")
    p.add_argument("--report-only", action="store_true", help="print the last run's results")
    p.add_argument("mutants", nargs="*", help="only these mutants (mutmut's names, "
                   "wildcards allowed, e.g. 'billing_monitor.alerting.holder.*')")
    args = p.parse_args(argv)
    if not args.report_only:
        mutmut = Path(sys.executable).with_name("mutmut")
        with installed_layout():
            subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children),
                            *args.mutants], cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    text, ok = report(statuses())
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
