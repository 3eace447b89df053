"""E-mail over SMTP submission: STARTTLS (required: never in clear) and
AUTH, one message per notification, one thread per incident.

Threading: every message of an incident carries `References` and
`In-Reply-To` naming the incident's root id, derived from the dedup key
(`<sha256(key)@billing-monitor>`), and the same subject (`Re: ` after the
first), so mail clients group them. Each message's own `Message-ID` is derived
from the notification (key, action, reason, time): a retried delivery that
the server had in fact accepted carries the same id, which clients fold.

Outcomes: 4xx replies, refused connections and timeouts are transient; 5xx
(535 bad credentials, 550 unknown recipient, 554), a server without STARTTLS
or AUTH, and a certificate that does not verify are permanent; a reply that
is not SMTP is malformed (transient)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from billing_monitor.alerts.chat_format import chat_post
from billing_monitor.alerts.contract import Notification, SinkError

DOMAIN = "billing-monitor"
FIRST = ("open", "degraded", "test")  # reasons that start an incident's thread


def _id(seed: str) -> str:
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:40]}@{DOMAIN}>"


def thread_id(dedup_key: str) -> str:
    return _id(dedup_key)


def message(n: Notification, sender: str, to: Sequence[str]) -> EmailMessage:
    post = chat_post(n)
    msg = EmailMessage()
    subject = f"[billing-monitor] {n.dedup_key}"
    msg["Subject"] = subject if n.reason in FIRST else f"Re: {subject}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(n.occurred_at)
    msg["Message-ID"] = _id("\x1f".join((n.dedup_key, n.action, n.reason,
                                         n.occurred_at.isoformat())))
    msg["In-Reply-To"] = thread_id(n.dedup_key)
    msg["References"] = thread_id(n.dedup_key)
    msg["X-Billing-Monitor-Dedup-Key"] = n.dedup_key
    msg.set_content(post.text + "\n")
    return msg


class EmailNotifier:
    name = "email"

    def __init__(self, host: str, port: int, username: str, password: str, sender: str,
                 to: Sequence[str], *, timeout: float, tls: ssl.SSLContext | None = None,
                 name: str = "email") -> None:
        self.name = name
        self._host, self._port, self._user, self._password = host, port, username, password
        self._sender, self._to, self._timeout = sender, tuple(to), timeout
        self._tls = tls or ssl.create_default_context()
        # connect, greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, QUIT: each
        # waits at most `timeout`; count a few of them as the bound.
        self.max_seconds = 4 * timeout

    def deliver(self, notification: Notification) -> None:
        msg = message(notification, self._sender, self._to)
        where = f"SMTP {self._host}:{self._port}"
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise SinkError(f"{where}: no STARTTLS offered; refusing to send in clear",
                                    permanent=True)
                smtp.starttls(context=self._tls)
                smtp.ehlo()
                smtp.login(self._user, self._password)
                smtp.send_message(msg)
        except SinkError:
            raise
        except smtplib.SMTPNotSupportedError as exc:
            raise SinkError(f"{where}: {exc}", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise SinkError(f"{where}: recipients refused ({codes})",
                            permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(where, exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise SinkError(f"{where}: disconnected ({exc})") from None
        except ssl.SSLCertVerificationError as exc:
            raise SinkError(f"{where}: certificate: {exc.verify_message}", permanent=True) \
                from None
        except (TimeoutError, OSError) as exc:  # refused, unreachable, timeout, TLS
            raise SinkError(f"{where}: {type(exc).__name__}: {exc}") from None

    def _reply_error(self, where: str, code: int, text: bytes | str) -> SinkError:
        shown = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text)[:200]
        shown = shown.replace(self._password, "<redacted>") if self._password else shown
        if not 200 <= code < 600:
            return SinkError(f"{where}: malformed reply ({shown!r})")
        return SinkError(f"{where}: {code} {shown}", permanent=code >= 500)

    def close(self) -> None:
        return None
