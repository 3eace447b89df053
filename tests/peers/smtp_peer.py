"""A real SMTP submission server (aiosmtpd) on 127.0.0.1:0 with STARTTLS
(a trustme certificate), AUTH required and allowed only after STARTTLS, one
user. Faults as the HTTP peers have them: "refused" (stopped, port freed),
"timeout" (DATA is never answered until released), "error" (451 local
error), "ratelimit" (421 try again later, closing), "malformed" (a reply
that is not SMTP). Accepted messages are parsed and kept."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.peers.http_peers import Fault, Tls


class SmtpPeer:
    hang_seconds = 5.0

    def __init__(self, tls: Tls, user: str = "monitor", password: str = "s3cret-smtp-pass") -> None:
        self.user, self.password = user, password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fault: Fault = "ok"
        self._queued: list[Fault] = []
        self._tls = tls
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.port = 0
        self._controller: Controller | None = None
        self._start()

    def queue(self, *faults: Fault) -> None:
        with self._lock:
            self._queued.extend(faults)

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._queued.pop(0) if self._queued else self.fault

    def set_fault(self, fault: Fault) -> None:
        if fault == "refused" and self._controller is not None:
            self._controller.stop()
            self._controller = None
        elif fault != "refused" and self._controller is None:
            self._start()
        self.fault = fault

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self._release.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str,
              data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == self.user \
            and data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self._next_fault()
        if fault == "timeout":
            await asyncio.get_running_loop().run_in_executor(
                None, self._release.wait, self.hang_seconds)
            return "451 4.3.0 gave up"
        if fault == "error":
            return "451 4.3.0 Requested action aborted: local error in processing"
        if fault == "ratelimit":
            return "421 4.7.0 Too many messages, try again later"
        if fault == "malformed":
            return "HTTP/1.1 502 Bad Gateway"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK queued"

    def _start(self) -> None:
        if not self.port:  # aiosmtpd needs a real port; keep it across restarts
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        controller = Controller(
            self, hostname="127.0.0.1", port=self.port, tls_context=self._tls.server,
            require_starttls=True, auth_require_tls=True, auth_required=True,
            authenticator=self._auth, server_hostname="localhost", ready_timeout=5.0,
        )
        controller.start()
        self._controller = controller

    def threads(self) -> dict[str, list[EmailMessage]]:
        """Messages grouped as a mail client threads them (by References root)."""
        out: dict[str, list[EmailMessage]] = {}
        for m in self.messages:
            out.setdefault(str(m["References"]).split()[0], []).append(m)
        return out
