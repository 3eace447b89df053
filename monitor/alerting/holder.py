"""Who holds an outbox claim: this host, its boot, a process and that
process's start time. A claim whose holder died on this host (a crash, a
kill -9, a `check` that exited while a delivery was still in flight) is due
again at once instead of after its lease; one held on another host waits for
its lease, since from here we cannot tell whether that process is alive."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "-"


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22 of proc(5)


@dataclass(frozen=True)
class Holder:
    host: str
    boot: str
    pid: int
    started: str

    @classmethod
    def this_process(cls) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), _boot_id(), pid, _started(pid) or "-")

    @property
    def token(self) -> str:
        return f"{self.host}/{self.boot}/{self.pid}/{self.started}"

    def orphaned(self, token: str | None) -> bool:
        """True when `token` names a holder on this host that no longer runs."""
        if not token or token == self.token:
            return False
        host, _, rest = token.partition("/")
        boot, _, rest = rest.partition("/")
        pid, _, started = rest.partition("/")
        if host != self.host or not pid.isdigit():
            return False
        return boot != self.boot or _started(int(pid)) != started
