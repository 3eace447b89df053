"""A small Stripe API server on loopback for what localstripe lacks.

It implements Stripe's list semantics exactly where the checks rely on them:
newest first, `limit`, `starting_after`, `ending_before` (the page of objects
just newer than the cursor, still newest first, `has_more` towards newer),
`created`/`due_date` ranges, `types[]`, `status`, `delivery_success=false`,
the search API (Stripe's query language, `page`/`next_page`, no `total_count`),
per-account data (`Stripe-Account`), Stripe's error bodies, and with a clock
set its 30-day retention of events. Every request
is first checked against Stripe's OpenAPI specification
(tests/peers/stripe_spec.py): what Stripe refuses, it refuses the same way, and
keeps in `refused`. Faults are queued per request (tests/peers/fake_stripe_http.py).

With `upstream` (a localstripe URL), events, PaymentIntents and charges come
from localstripe on every request, so the real payment logic (declines, 3-D
Secure) is localstripe's and only the missing API features are ours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.peers.stripe_search import parse
from tests.peers.stripe_spec import Error, check, decode, invalid

Obj = dict[str, Any]
RETENTION_S = 30 * 86400  # Stripe keeps events 30 days
_PROXIED = ("events", "payment_intents", "charges")
_OPS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
# Filters this fake implements; a parameter Stripe accepts but the fake does
# not implement is a 500, so that no test passes on a filter ignored.
_LIST_PARAMS = {"limit", "starting_after", "ending_before", "created", "due_date", "types",
                "type", "status", "collection_method", "delivery_success"}
_SINGULAR = {"events": "event", "payment_intents": "payment_intent", "charges": "charge",
             "invoices": "invoice", "subscriptions": "subscription",
             "webhook_endpoints": "webhook_endpoint"}


def parse_query(query: str) -> dict[str, Any]:
    """`types[0]=a&types[]=b&created[gte]=1` -> {'types': [a, b], 'created': {'gte': '1'}}."""
    from urllib.parse import parse_qsl

    return decode(parse_qsl(query, keep_blank_values=True))


def error(status: int, code: str, message: str, param: str | None = None) -> Error:
    _, body = invalid(message, param, code)
    return status, body


class FakeStripe:
    def __init__(self, upstream: str | None = None) -> None:
        self.objects: dict[tuple[str | None, str], list[Obj]] = {}  # oldest first
        self.faults: list[tuple[str, float]] = []  # see fake_stripe_http.respond
        self.requests: list[str] = []
        self.accounts: list[str | None] = []  # the Stripe-Account header of each request
        self.refused: list[tuple[str, Obj]] = []  # (request, error body) the spec refused
        self.upstream = upstream
        # Stripe lists the events of the last 30 days only: with a clock set
        # (epoch seconds, the test's), older events are not listed.
        self.clock: Callable[[], int] | None = None
        self._indexes: dict[tuple[str | None, str], tuple[Any, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def add(self, resource: str, *objs: Obj, account: str | None = None) -> None:
        """Objects of the platform (account None) or of one connected account."""
        with self._lock:
            self.objects.setdefault((account, resource), []).extend(objs)

    def store(self, resource: str, account: str | None = None) -> list[Obj]:
        with self._lock:
            return self.objects.setdefault((account, resource), [])

    def _all(self, resource: str, auth: str, account: str | None) -> list[Obj]:
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
        return self.store(resource, account)

    def handle(
        self, path: str, pairs: list[tuple[str, str]], auth: str, account: str | None = None
    ) -> Error:
        refused = check("GET", path, pairs, account)
        if refused is not None:
            self.refused.append((path, refused[1]))
            return refused
        query = decode(pairs)
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if len(parts) == 2 and parts[1] == "search":
            return self._search(parts[0], query, auth, account)
        if len(parts) == 2:
            if self.upstream and parts[0] in _PROXIED:
                r = httpx.get(f"{self.upstream}{path}", headers={"Authorization": auth})
                return r.status_code, r.json()
            found = [o for o in self._all(parts[0], auth, account) if o["id"] == parts[1]]
            if not found:
                return error(404, "resource_missing",
                             f"No such {_SINGULAR.get(parts[0], parts[0])}: '{parts[1]}'", "id")
            return 200, found[0]
        unknown = set(query) - _LIST_PARAMS
        if unknown:
            return 500, {"error": {"type": "api_error",
                                   "message": f"the fake does not implement {sorted(unknown)}"}}
        return self._list(parts[0], query, auth, account)

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

    def _index(self, key: tuple[str | None, str], objs: list[Obj]) -> dict[str, int]:
        stamp = (id(objs), len(objs), objs[-1]["id"] if objs else None)
        cached = self._indexes.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, {o["id"]: i for i, o in enumerate(objs)})
            self._indexes[key] = cached
        return cached[1]

    def _list(
        self, resource: str, query: dict[str, Any], auth: str, account: str | None
    ) -> Error:
        """Objects are kept oldest first in `created` order, as Stripe creates them,
        so a page costs its own size, not the collection's (the benchmark needs that)."""
        objs = self._all(resource, auth, account)
        index = self._index((account, resource), objs)
        limit = int(query.get("limit", 10))
        for param in ("starting_after", "ending_before"):
            if param in query and query[param] not in index:
                # Stripe answers an unknown cursor with a 400 naming the parameter.
                name = _SINGULAR.get(resource, resource)
                return error(400, "resource_missing", f"No such {name}: '{query[param]}'", param)
        if resource == "events" and self.clock is not None:
            created = query.get("created") or {}
            oldest = self.clock() - RETENTION_S
            floor = max(int(created["gte"]), oldest) if "gte" in created else oldest
            query = {**query, "created": {**created, "gte": str(floor)}}
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

    def _search(
        self, resource: str, query: dict[str, Any], auth: str, account: str | None
    ) -> Error:
        q = parse(resource, query["query"])
        objs = [o for o in reversed(self._all(resource, auth, account)) if q.matches(o)]
        page = query.get("page", "pg_0")
        if not page.startswith("pg_") or not page[3:].isdigit():
            return error(400, "invalid_page", f"Invalid page: {page}", "page")
        start, limit = int(page[3:]), int(query.get("limit", 10))
        more = len(objs) > start + limit
        return 200, {"object": "search_result", "data": objs[start : start + limit],
                     "has_more": more, "next_page": f"pg_{start + limit}" if more else None,
                     "url": f"/v1/{resource}/search"}


from tests.peers.fake_stripe_http import (  # noqa: E402  (the server around FakeStripe)
    KEY,
    api_for,
    context,
    event,
    fake_stripe,
    now,
)

__all__ = ["KEY", "FakeStripe", "api_for", "context", "event", "fake_stripe", "now"]
