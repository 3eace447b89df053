"""deploy/billing-monitor.service: `systemd-analyze verify` is clean and
`systemd-analyze security` rates it 2.0 or better (lower is safer)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from billing_monitor.commands.errors import ExitCode
from billing_monitor.settings.credentials import SECRET_ENV
from billing_monitor.settings.sections import HttpSection

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "billing-monitor.service"
INSTALLED_BIN = "/opt/billing-monitor/.venv/bin/billing-monitor"


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is required in CI (Debian package systemd)")
        pytest.skip("systemd-analyze is not installed")
    return tool


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's real binary, since
    verify insists that the executable exists."""
    real = Path(sys.executable).with_name("billing-monitor")
    assert real.exists()
    text = UNIT.read_text("utf-8")
    assert INSTALLED_BIN in text
    copy = tmp_path / "billing-monitor.service"
    copy.write_text(text.replace(INSTALLED_BIN, str(real)), "utf-8")
    return copy


def test_verify_is_clean(unit_copy: Path) -> None:
    r = subprocess.run([analyze(), "verify", str(unit_copy)], capture_output=True, text=True,
                       timeout=120, cwd=unit_copy.parent)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stderr


def test_security_exposure_is_2_or_better(unit_copy: Path) -> None:
    r = subprocess.run([analyze(), "security", "--offline=yes", "--no-pager", str(unit_copy)],
                       capture_output=True, text=True, timeout=120, cwd=unit_copy.parent)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert found, r.stdout + r.stderr
    assert float(found.group(1)) <= 2.0, r.stdout


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text("utf-8"))  # repeated keys: the last one wins
    return parser["Service"]


def test_unit_matches_the_daemon() -> None:
    text = UNIT.read_text("utf-8")
    service = _service()
    assert service["Type"] == "notify"
    assert service["RestartPreventExitStatus"] == str(int(ExitCode.CONFIG))
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert f"tcp:{HttpSection().port}" in service["SocketBindAllow"]
    credentials = re.findall(r"^LoadCredential=([a-z_]+):", text, flags=re.M)
    assert sorted(credentials) == sorted(v.lower() for v in SECRET_ENV)
    assert not re.search(r"^Environment=.*(KEY|URL|TOKEN)", text, flags=re.M)
