"""localstripe as a separate process on a free loopback port (GPL: test-only).

It keeps its store in /tmp/localstripe.pickle (a fixed path it writes after
every POST); `--from-scratch` makes it ignore whatever is there at start-up.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

KEY = "sk_test_localstripe_12345"


def executable() -> str | None:
    local = Path(sys.executable).with_name("localstripe")
    return str(local) if local.exists() else shutil.which("localstripe")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def localstripe() -> Iterator[str]:
    exe = executable()
    if exe is None:
        raise RuntimeError("localstripe is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/v1/events", headers={"Authorization": f"Bearer {KEY}"})
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)  # waiting for a process to listen, not for a schedule
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LocalStripeClient:
    """Creates test data through localstripe's form-encoded API."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})

    def post(self, path: str, data: dict[str, str]) -> dict[str, object]:
        r = self._http.post(path, data=data)
        r.raise_for_status()
        body: dict[str, object] = r.json()
        return body

    def pay(self, card: str, amount: int = 2000) -> dict[str, object]:
        """A customer with the card, and a PaymentIntent confirmed with it."""
        cus = self.post("/v1/customers", {"email": "buyer@example.com"})
        pm = self.post("/v1/payment_methods", {
            "type": "card", "card[number]": card, "card[exp_month]": "12",
            "card[exp_year]": "2040", "card[cvc]": "123",
        })
        self.post(f"/v1/payment_methods/{pm['id']}/attach", {"customer": str(cus["id"])})
        return self.post("/v1/payment_intents", {
            "amount": str(amount), "currency": "usd", "customer": str(cus["id"]),
            "payment_method": str(pm["id"]), "confirm": "true",
        })

    def close(self) -> None:
        self._http.close()
