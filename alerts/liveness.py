"""Healthchecks.io-compatible liveness pings, so that a dead monitor is noticed.

`HttpLiveness` pings `{url}/start`, `{url}` (success) and `{url}/fail`, each
with `?rid=` so that Healthchecks pairs the start with its end and measures the
run. A ping has a short timeout and never raises: a failed ping is logged (a
warning without the URL, which holds the check's UUID) and the check goes on.
`BackgroundLiveness` sends them from a worker thread, so that not even a
hanging ping host delays a check. `Heartbeat` pings a second URL for the
daemon itself. `NullLiveness` and
`NullHeartbeat` stand in when nothing is configured."""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from urllib.parse import urlsplit, urlunsplit

import httpx

from billing_monitor.alerts.contract import PingKind
from billing_monitor.alerts.webhook import add_query, scrub

log = logging.getLogger("billing_monitor.liveness")

_SUFFIX: dict[PingKind, str] = {"start": "/start", "success": "", "fail": "/fail"}
BODY_LIMIT = 100_000  # Healthchecks keeps the first 100 kB of a ping body


def _ping(client: httpx.Client, what: str, url: str, body: str, rid: str | None) -> bool:
    """POST one ping; True when the peer answered 2xx. Never raises."""
    target = add_query(url, "rid", rid) if rid else url
    try:
        response = client.post(target, content=body[:BODY_LIMIT].encode())
    except httpx.TimeoutException:
        log.warning("%s ping timed out", what)
        return False
    except Exception as exc:  # a ping must never fail the caller
        log.warning("%s ping failed: %s: %s", what, type(exc).__name__, scrub(str(exc), [url]))
        return False
    if not response.is_success:
        detail = scrub(response.text.strip()[:80], [url])
        log.warning("%s ping answered HTTP %d: %s", what, response.status_code, detail)
        return False
    return True


class HttpLiveness:
    """Pings for each check cycle. `rid` identifies the run (a UUID)."""

    def __init__(self, ping_url: str, *, timeout: float = 3.0,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._url = ping_url
        self._client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)

    def ping(self, kind: PingKind, rid: str, body: str = "") -> bool:
        parts = urlsplit(self._url)  # the suffix goes on the path, before any ?create=1
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + _SUFFIX[kind]))
        return _ping(self._client, f"liveness {kind}", url, body, rid)

    def start(self, rid: str) -> None:
        self.ping("start", rid)

    def success(self, rid: str, body: str = "") -> None:
        self.ping("success", rid, body)

    def fail(self, rid: str, body: str = "") -> None:
        self.ping("fail", rid, body)

    def close(self) -> None:
        self._client.close()


class BackgroundLiveness:
    """Sends another Liveness's pings from one worker thread, in order, so that
    `start`/`success`/`fail` return at once even when the ping host hangs.
    A bounded queue: when it is full the ping is dropped with a warning (the
    missing ping is what Healthchecks alerts on). `ping` stays synchronous."""

    def __init__(self, inner: HttpLiveness, max_pending: int = 100) -> None:
        self._inner = inner
        self._queue: queue.Queue[tuple[PingKind, str, str] | None] = queue.Queue(max_pending)
        self._worker = threading.Thread(target=self._run, name="liveness-pings", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._inner.ping(*item)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _put(self, kind: PingKind, rid: str, body: str) -> None:
        try:
            self._queue.put_nowait((kind, rid, body))
        except queue.Full:
            log.warning("liveness %s ping dropped: %d pings pending", kind, self._queue.qsize())

    def ping(self, kind: PingKind, rid: str, body: str = "") -> bool:
        return self._inner.ping(kind, rid, body)

    def start(self, rid: str) -> None:
        self._put("start", rid, "")

    def success(self, rid: str, body: str = "") -> None:
        self._put("success", rid, body)

    def fail(self, rid: str, body: str = "") -> None:
        self._put("fail", rid, body)

    def flush(self) -> None:
        """Wait until every queued ping was sent or failed (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        """Send what is queued (each ping is bounded by its timeout), then stop."""
        self._queue.put(None)
        self._worker.join()
        self._inner.close()


class Heartbeat:
    """The daemon's own 'I am alive' ping, sent by its main loop."""

    def __init__(self, url: str, *, timeout: float = 3.0,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)

    def heartbeat(self, body: str = "") -> bool:
        return _ping(self._client, "heartbeat", self._url, body, None)

    def close(self) -> None:
        self._client.close()


class NullHeartbeat:
    def heartbeat(self, body: str = "") -> bool:
        return False

    def close(self) -> None:
        pass
