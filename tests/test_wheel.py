"""The built wheel installs one package, `billing_monitor`, and coexists with
anything else in a user's environment: here, beside another distribution that
owns the top-level name `checks` (as PyPI's `checks` does), in a fresh
virtual environment, `billing-monitor demo` runs and the other package's
`checks` is still its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OTHER = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "someone-elses-checks"
version = "1.0"

[tool.setuptools]
packages = ["checks", "alerts", "monitor"]
'''


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """In `cwd`, away from the checkout: `python -c` imports from its directory."""
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, f"{cmd}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r


def test_the_wheel_installs_beside_a_package_that_owns_checks(tmp_path: Path) -> None:
    other = tmp_path / "other"
    for name in ("checks", "alerts", "monitor"):
        (other / name).mkdir(parents=True)
        (other / name / "__init__.py").write_text(f'OWNER = "someone else\'s {name}"\n')
    (other / "pyproject.toml").write_text(OTHER)
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("billing_health_monitor-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    pip = venv / "bin" / "pip"
    _run(pip, "install", "-q", other, cwd=tmp_path)
    _run(pip, "install", "-q", wheel, cwd=tmp_path)

    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = {p.name for p in site.iterdir()} & {"billing_monitor", "checks", "alerts",
                                                 "monitor"}
    assert ours == {"billing_monitor", "checks", "alerts", "monitor"}
    assert (site / "billing_monitor" / "checks" / "contract.py").is_file()
    assert (site / "billing_monitor" / "config" / "demo.toml").is_file()
    for name in ("checks", "alerts", "monitor"):  # still the other package's own
        r = _run(venv / "bin" / "python", "-c", f"import {name}; print({name}.OWNER)",
                 cwd=tmp_path)
        assert r.stdout.strip() == f"someone else's {name}"

    demo = _run(venv / "bin" / "billing-monitor", "demo", "--json", "--dir", tmp_path / "demo",
                cwd=tmp_path)
    report = json.loads(demo.stdout)
    by_check = {r["check"]: r for r in report["results"]}
    assert by_check["unbilled_orders"]["status"] == "CRIT"
    assert report["planted"]["unbilled"] == by_check["unbilled_orders"]["measurements"][0][
        "value"]
    r = _run(venv / "bin" / "python", "-m", "billing_monitor", "--version", cwd=tmp_path)
    assert r.stdout.startswith("billing-monitor ")
