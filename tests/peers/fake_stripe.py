"""A small Stripe API server on loopback for what localstripe lacks.

It implements Stripe's list semantics exactly where the checks rely on them:
newest first, `limit`, `starting_after`, `ending_before` (the page of objects
just newer than the cursor, still newest first, `has_more` towards newer),
`created`/`due_date` ranges, `types[]`, `status`, `delivery_success=false`,
the search API's `status:'x' AND created<N` with `expand[]=total_count`, and
Stripe's error bodies (404 resource_missing). Faults are queued per request:
429 (Retry-After, Stripe-Should-Retry), 500, and a delay (for timeouts).

With `upstream` (a localstripe URL), events, PaymentIntents and charges come
from localstripe on every request, so the real payment logic (declines, 3-D
Secure) is localstripe's and only the missing API features are ours.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

Obj = dict[str, Any]
_PROXIED = ("events", "payment_intents", "charges")
_OPS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def parse_query(query: str) -> dict[str, Any]:
    """`types[0]=a&types[]=b&created[gte]=1` -> {'types': [a, b], 'created': {'gte': '1'}}."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "[" in key:
            base, sub = key.split("[", 1)
            sub = sub.rstrip("]")
            if sub == "" or sub.isdigit():
                out.setdefault(base, []).append(value)
            else:
                out.setdefault(base, {})[sub] = value
        else:
            out[key] = value
    return out


def error(status: int, code: str, message: str, param: str | None = None) -> tuple[int, Obj]:
    body = {"type": "invalid_request_error", "code": code, "message": message}
    if param:
        body["param"] = param
    return status, {"error": body}


class FakeStripe:
    def __init__(self, upstream: str | None = None) -> None:
        self.objects: dict[str, list[Obj]] = {}  # resource -> oldest first
        self.faults: list[tuple[str, float]] = []  # ("429"|"500"|"401"|"delay", arg)
        self.requests: list[str] = []
        self.accounts: list[str | None] = []  # the Stripe-Account header of each request
        self.upstream = upstream
        self._indexes: dict[str, tuple[tuple[int, int, str | None], dict[str, int]]] = {}
        self._lock = threading.Lock()

    def add(self, resource: str, *objs: Obj) -> None:
        with self._lock:
            self.objects.setdefault(resource, []).extend(objs)

    def _all(self, resource: str, auth: str) -> list[Obj]:
        if self.upstream and resource in _PROXIED:
            out: list[Obj] = []
            after = None
            while True:
                params = {"limit": "100", **({"starting_after": after} if after else {})}
                r = httpx.get(f"{self.upstream}/v1/{resource}", params=params,
                              headers={"Authorization": auth})
                page = r.json()
                out.extend(page["data"])
                if not page["has_more"]:
                    return out  # localstripe lists oldest first, like our store
                after = page["data"][-1]["id"]
        with self._lock:
            return self.objects.setdefault(resource, [])

    def handle(self, path: str, query: dict[str, Any], auth: str) -> tuple[int, Obj]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if len(parts) == 2 and parts[1] == "search":
            return self._search(parts[0], query, auth)
        if len(parts) == 2:
            if self.upstream and parts[0] in _PROXIED:
                r = httpx.get(f"{self.upstream}{path}", headers={"Authorization": auth})
                return r.status_code, r.json()
            found = [o for o in self._all(parts[0], auth) if o["id"] == parts[1]]
            if not found:
                return error(404, "resource_missing", f"No such object: '{parts[1]}'", "id")
            return 200, found[0]
        if len(parts) == 1:
            return self._list(parts[0], query, auth)
        return error(404, "resource_missing", f"Unrecognized request URL (GET: {path})")

    def _matches(self, obj: Obj, query: dict[str, Any]) -> bool:
        for key in ("created", "due_date"):
            for op, v in (query.get(key) or {}).items():
                if obj.get(key) is None or not _OPS[op](obj[key], int(v)):
                    return False
        if "types" in query and obj.get("type") not in query["types"]:
            return False
        if "type" in query and obj.get("type") != query["type"]:
            return False
        for key in ("status", "collection_method"):
            if key in query and obj.get(key) != query[key]:
                return False
        return not (query.get("delivery_success") == "false" and not obj.get("pending_webhooks"))

    def _index(self, resource: str, objs: list[Obj]) -> dict[str, int]:
        key = (id(objs), len(objs), objs[-1]["id"] if objs else None)
        cached = self._indexes.get(resource)
        if cached is None or cached[0] != key:
            cached = (key, {o["id"]: i for i, o in enumerate(objs)})
            self._indexes[resource] = cached
        return cached[1]

    def _list(self, resource: str, query: dict[str, Any], auth: str) -> tuple[int, Obj]:
        """Objects are kept oldest first in `created` order, as Stripe creates them,
        so a page costs its own size, not the collection's (the benchmark needs that)."""
        objs = self._all(resource, auth)
        index = self._index(resource, objs)
        limit = int(query.get("limit", 10))
        for param in ("starting_after", "ending_before"):
            if param in query and query[param] not in index:
                return error(404, "resource_missing", f"No such object: '{query[param]}'", param)
        gte = (query.get("created") or {}).get("gte")
        found: list[Obj] = []
        if "ending_before" in query:  # towards newer objects, nearest first
            for o in objs[index[query["ending_before"]] + 1 :]:
                if self._matches(o, query):
                    found.append(o)
                    if len(found) > limit:
                        break
            data = list(reversed(found[:limit]))
        else:  # towards older objects, newest first
            start = index[query["starting_after"]] if "starting_after" in query else len(objs)
            for i in range(start - 1, -1, -1):
                o = objs[i]
                if gte is not None and o["created"] < int(gte):
                    break  # created order: nothing older can match
                if self._matches(o, query):
                    found.append(o)
                    if len(found) > limit:
                        break
            data = found[:limit]
        return 200, {"object": "list", "data": data, "has_more": len(found) > limit,
                     "url": f"/v1/{resource}"}

    def _search(self, resource: str, query: dict[str, Any], auth: str) -> tuple[int, Obj]:
        clauses = [c.strip() for c in query.get("query", "").split(" AND ")]
        objs = list(reversed(self._all(resource, auth)))
        for clause in clauses:
            if ":" in clause:
                field, value = clause.split(":", 1)
                objs = [o for o in objs if str(o.get(field)) == value.strip("'\"")]
            else:
                op = "<" if "<" in clause else ">"
                field, value = clause.split(op, 1)
                sign = 1 if op == ">" else -1
                objs = [o for o in objs if sign * (o[field] - int(value)) > 0]
        limit = int(query.get("limit", 10))
        out: Obj = {"object": "search_result", "data": objs[:limit],
                    "has_more": len(objs) > limit, "next_page": None,
                    "url": f"/v1/{resource}/search"}
        if "total_count" in (query.get("expand") or []):
            out["total_count"] = len(objs)
        return 200, out


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        fake.requests.append(self.path)
        fake.accounts.append(self.headers.get("Stripe-Account"))
        fault = fake.faults.pop(0) if fake.faults else None
        headers: dict[str, str] = {"Request-Id": f"req_{len(fake.requests)}"}
        if fault and fault[0] == "delay":
            self.server.release.wait(fault[1])
        if fault and fault[0] == "429":
            headers |= {"Retry-After": f"{fault[1]:g}", "Stripe-Should-Retry": "false"}
            status, body = error(429, "rate_limit", "Too many requests hit the API too quickly.")
        elif fault and fault[0] == "401":
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, body = 401, {"error": {"type": "invalid_request_error",
                                           "message": f"Invalid API Key provided: {key}"}}
        elif fault and fault[0] == "500":
            status, body = 500, {"error": {"type": "api_error", "message": "internal error"}}
        else:
            auth = self.headers.get("Authorization", "")
            status, body = fake.handle(url.path, parse_query(url.query), auth)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe
    release: threading.Event


@contextmanager
def fake_stripe(upstream: str | None = None) -> Iterator[tuple[FakeStripe, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeStripe(upstream)
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def event(evt_id: str, type_: str, created: int, obj: Obj, pending: int = 0) -> Obj:
    """An Event shaped like Stripe's API reference."""
    return {
        "id": evt_id, "object": "event", "api_version": "2024-06-20", "created": created,
        "data": {"object": obj}, "livemode": False, "pending_webhooks": pending,
        "request": {"id": None, "idempotency_key": None}, "type": type_,
    }


def now() -> int:
    return int(time.time())


KEY = "sk_test_fake_0123456789abcdef"


def api_for(url: str, sleeps: list[float] | None = None, **section: Any) -> Any:
    """A StripeApi aimed at `url`, built the way the app builds it."""
    from checks.stripe_client import build_stripe_api
    from checks.stripe_config import StripeSection

    record = sleeps if sleeps is not None else []
    return build_stripe_api(
        StripeSection(api_base=url, **section), {"STRIPE_API_KEY": KEY}, sleep=record.append
    )


def context(at: int, sample_limit: int = 20) -> Any:
    """A CheckContext at epoch second `at`."""
    from datetime import UTC, datetime

    from monitor.period import current_period
    from monitor.types import CheckContext

    now_dt = datetime.fromtimestamp(at, UTC)
    return CheckContext(current_period("iso_week", "UTC", now_dt), now_dt,
                        deadline=time.monotonic() + 60, sample_limit=sample_limit)
