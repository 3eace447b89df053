"""Who holds an outbox claim (monitor/alerting/holder.py), read from /proc the
way the product reads it and checked against processes the test starts and
ends itself: a live holder is not orphaned, a dead one, one from an earlier
boot and one whose pid was reused are; another host's holder is never judged
from here; a token that is not one is never orphaned."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing_monitor.alerting.holder import Holder


def _stat_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat, counted from the end (independent of how
    the product splits it): starttime is the 31st field from the last."""
    fields = Path(f"/proc/{pid}/stat").read_text().split()
    return fields[-(52 - 22 + 1)]


@pytest.fixture
def child(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command name holds ") (" and spaces, as a comm
    field may: the product must split /proc/PID/stat after the last ')'."""
    odd = tmp_path / "a) b (c"
    shutil.copy(sys.executable, odd)
    proc = subprocess.Popen([str(odd), "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_this_process_names_host_boot_pid_and_start() -> None:
    me = Holder.this_process()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert (me.host, me.boot, me.pid) == (socket.gethostname(), boot[:8], os.getpid())
    assert me.started == _stat_start(os.getpid()) and me.started.isdigit()
    assert me.token == f"{socket.gethostname()}/{boot[:8]}/{os.getpid()}/{me.started}"


def test_a_live_holder_is_not_orphaned_even_with_an_odd_command_name(
        child: subprocess.Popen[bytes]) -> None:
    me = Holder.this_process()
    live = Holder(me.host, me.boot, child.pid, _stat_start(child.pid))
    assert not me.orphaned(live.token)
    assert not me.orphaned(me.token)  # its own claim


def test_a_holder_that_died_is_orphaned(child: subprocess.Popen[bytes]) -> None:
    me = Holder.this_process()
    token = Holder(me.host, me.boot, child.pid, _stat_start(child.pid)).token
    child.kill()
    child.wait()
    assert me.orphaned(token)


def test_a_reused_pid_or_an_earlier_boot_is_orphaned(child: subprocess.Popen[bytes]) -> None:
    me = Holder.this_process()
    started = _stat_start(child.pid)
    assert me.orphaned(Holder(me.host, me.boot, child.pid, str(int(started) - 1)).token)
    other_boot = "0" * 8 if me.boot != "0" * 8 else "1" * 8
    assert me.orphaned(Holder(me.host, other_boot, child.pid, started).token)


def test_another_hosts_holder_is_never_judged_from_here(child: subprocess.Popen[bytes]) -> None:
    me = Holder.this_process()
    child.kill()
    child.wait()
    assert not me.orphaned(Holder(me.host + "-other", me.boot, child.pid, "1").token)
    assert not me.orphaned(Holder(me.host + "-other", "0" * 8, 999_999_999, "1").token)


@pytest.mark.parametrize("token", [None, "", "garbage", "/", "//", "///"])
def test_what_is_not_a_token_is_never_orphaned(token: str | None) -> None:
    assert not Holder.this_process().orphaned(token)


def test_a_token_with_a_non_numeric_pid_on_this_host_is_not_orphaned() -> None:
    me = Holder.this_process()
    assert not me.orphaned(f"{me.host}/{me.boot}/x{me.pid}/{me.started}")
    assert not me.orphaned(f"{me.host}/{me.boot}//{me.started}")


def test_a_start_time_that_cannot_be_one_is_a_different_process(
        child: subprocess.Popen[bytes]) -> None:
    """The start time is everything after the pid: one with a slash in it
    never matches the live process, whose claim this then is not."""
    me = Holder.this_process()
    assert me.orphaned(f"{me.host}/{me.boot}/{child.pid}/{_stat_start(child.pid)}/1")
