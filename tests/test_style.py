"""ruff and mypy (strict) are part of the test suite, so CI runs them.

mypy reads source files, not an installed package: it cannot follow
setuptools' package-dir mapping (monitor/ -> billing_monitor, checks/ ->
billing_monitor.checks, ...). It is given the same map as a tree of symbolic
links, so the modules it checks carry the names the product imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"checks": "checks", "alerts": "alerts", "config": "config"}


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def package_tree(into: Path) -> Path:
    """`into/billing_monitor` as the installed package lays it out, made of links."""
    pkg = into / "billing_monitor"
    pkg.mkdir()
    for child in (ROOT / "monitor").iterdir():
        if child.name != "__pycache__":
            (pkg / child.name).symlink_to(child)
    for name, folder in MAPPED.items():
        (pkg / name).symlink_to(ROOT / folder)
    for folder in ("bench", "tests"):  # the benchmarks import the test peers
        (into / folder).symlink_to(ROOT / folder)
    return into


def test_ruff_is_clean() -> None:
    r = _run("ruff", "check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    tree = package_tree(tmp_path)
    r = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
             os.devnull, "-p", "billing_monitor", "-p", "bench", cwd=tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout
