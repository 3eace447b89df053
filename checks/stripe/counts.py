"""Counting with Stripe's own filters, one page of 100 at a time up to a page
bound. Stripe gives no exact total for a list or a search (`total_count` is
not expandable on current API versions: "This property cannot be included"),
so a count is the objects paged through, and one that stops at the bound with
more to read is a lower bound, reported as capped, never as exact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billing_monitor.checks.stripe.client import StripeApi

Keep = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Count:
    n: int
    ids: tuple[str, ...]  # newest first, every counted object's id
    capped: bool  # the page bound was hit with more to read: n is a lower bound


def count_list(
    api: StripeApi, path: str, params: dict[str, Any], account: str | None, max_pages: int,
    keep: Keep | None = None,
) -> Count:
    """Objects a filtered list returns (at most max_pages pages, `starting_after`)."""
    ids: list[str] = []
    query: dict[str, Any] = {"limit": 100, **params}
    more = False
    for _ in range(max_pages):
        page = api.get(path, query, account)
        data: list[dict[str, Any]] = page.get("data", [])
        ids += [str(o["id"]) for o in data if keep is None or keep(o)]
        more = bool(page.get("has_more")) and bool(data)
        if not more:
            break
        query = {**query, "starting_after": data[-1]["id"]}
    return Count(len(ids), tuple(ids), more)


def count_search(
    api: StripeApi, path: str, query: str, account: str | None, max_pages: int
) -> Count:
    """Objects a search matches (at most max_pages pages, `page`/`next_page`).
    Search data may lag writes by about a minute (docs.stripe.com/search)."""
    ids: list[str] = []
    params: dict[str, Any] = {"query": query, "limit": 100}
    more = False
    for _ in range(max_pages):
        page = api.get(path, params, account)
        data: list[dict[str, Any]] = page.get("data", [])
        ids += [str(o["id"]) for o in data]
        more = bool(page.get("has_more")) and bool(page.get("next_page"))
        if not more:
            break
        params = {**params, "page": page["next_page"]}
    return Count(len(ids), tuple(ids), more)
