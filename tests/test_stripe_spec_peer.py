"""The Stripe test peer refuses what Stripe refuses, with Stripe's 400 bodies:
the spec subset is Stripe's own (pinned, vendored), and stripe-python's
parameter types agree with it on every parameter the product sends."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.peers.fake_stripe import KEY
from tests.peers.stripe_search import QueryError, parse
from tests.peers.stripe_spec import SDK_PARAMS, SUBSET, sdk_names, subset
from tests.stripe_fixtures import fake

__all__ = ["fake"]  # fixtures


def get(url: str, path: str, params: dict[str, str], account: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {KEY}"}
    if account:
        headers["Stripe-Account"] = account
    return httpx.get(f"{url}{path}", params=params, headers=headers)


def refused(r: Any, param: str | None) -> str:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err.get("param") == param
    return str(err["message"])


def test_expand_total_count_on_search_is_refused_as_stripe_does(fake: Any) -> None:
    server, url = fake
    r = get(url, "/v1/payment_intents/search", {
        "query": "status:'processing' AND created<1700000000", "limit": "100",
        "expand[0]": "total_count"})
    assert refused(r, "expand") == "This property cannot be included (total_count)."
    assert server.refused and server.refused[0][0] == "/v1/payment_intents/search"
    ok = get(url, "/v1/payment_intents/search", {"query": "status:'processing'"})
    assert ok.status_code == 200 and "total_count" not in ok.json()


@pytest.mark.parametrize(("path", "params", "param", "message"), [
    ("/v1/events", {"bogus": "1"}, "bogus", "Received unknown parameter: bogus"),
    ("/v1/events", {"created[since]": "1"}, "created[since]",
     "Received unknown parameter: created[since]"),
    ("/v1/events", {"limit": "101"}, "limit", "less than or equal to 100"),
    ("/v1/events", {"limit": "ten"}, "limit", "Invalid integer: ten"),
    ("/v1/events", {"delivery_success": "no"}, "delivery_success", "Invalid boolean: no"),
    ("/v1/events", {"type": "a", "types[0]": "b"}, "types", "either type or types"),
    ("/v1/events", {"types[0]": "payment_intent.succeeded", "types[1]": "charge.succeded"},
     "types", "Invalid types[1]: charge.succeded is not an event type"),
    ("/v1/events", {"type": "payment.*"}, "type", "matches no event type"),
    ("/v1/events", {"created[gte]": "yesterday"}, "created[gte]", "Invalid integer"),
    ("/v1/events", {"created[after]": "1"}, "created[after]", "unknown parameter"),
    ("/v1/events", {"expand[0]": "data.customer"}, "expand", "cannot be expanded"),
    ("/v1/subscriptions", {"status": "overdue"}, "status", "Invalid status: must be one of"),
    ("/v1/invoices", {"status": "open", "due_date[before]": "1"}, "due_date[before]",
     "unknown parameter"),
    ("/v1/webhook_endpoints", {"status": "disabled"}, "status",
     "Received unknown parameter: status"),
    ("/v1/payment_intents/search", {"query": "state:'processing'"}, "query",
     "unsupported search field"),
    ("/v1/payment_intents/search", {"query": "status:processing"}, "query", "not a clause"),
    ("/v1/payment_intents/search", {"query": "status:'a' AND amount>1 OR currency:'usd'"},
     "query", "cannot be combined"),
    ("/v1/payment_intents/search", {"query": "created<'yesterday'"}, "query",
     "compares with an integer"),
    ("/v1/payment_intents/search", {}, "query", "Missing required param: query."),
    ("/v1/payment_intents/pi_1", {"expand[0]": "total_count"}, "expand",
     "cannot be included"),
])
def test_the_peer_refuses_what_the_spec_forbids(
    fake: Any, path: str, params: dict[str, str], param: str, message: str
) -> None:
    _, url = fake
    assert message in refused(get(url, path, params), param)


def test_known_event_types_and_patterns_pass(fake: Any) -> None:
    _, url = fake
    for params in ({"types[0]": "payment_intent.succeeded", "types[1]": "charge.succeeded"},
                   {"type": "charge.dispute.*"}, {"type": "payout.failed"}):
        assert get(url, "/v1/events", params).status_code == 200


def test_events_older_than_30_days_are_not_listed(fake: Any) -> None:
    server, url = fake
    now = 1_790_000_000
    server.clock = lambda: now
    for i, age in enumerate((31 * 86400, 30 * 86400 - 60, 60)):
        server.add("events", {"id": f"evt_{i}", "object": "event", "type": "payout.failed",
                              "created": now - age, "data": {"object": {}}})
    listed = get(url, "/v1/events", {"created[gte]": str(now - 40 * 86400)}).json()["data"]
    assert [e["id"] for e in listed] == ["evt_2", "evt_1"]


def test_an_unknown_cursor_is_a_400_naming_the_parameter(fake: Any) -> None:
    _, url = fake
    r = get(url, "/v1/events", {"ending_before": "evt_gone"})
    assert refused(r, "ending_before") == "No such event: 'evt_gone'"
    assert r.json()["error"]["code"] == "resource_missing"
    both = get(url, "/v1/events", {"ending_before": "evt_a", "starting_after": "evt_b"})
    assert "Please pass in only one" in refused(both, None)


def test_each_account_sees_its_own_objects(fake: Any) -> None:
    server, url = fake
    server.add("subscriptions", {"id": "sub_p", "created": 1, "status": "past_due"})
    server.add("subscriptions", {"id": "sub_a", "created": 1, "status": "past_due"},
               account="acct_1Aa")
    ids = [[s["id"] for s in get(url, "/v1/subscriptions", {}, acct).json()["data"]]
           for acct in (None, "acct_1Aa", "acct_2Bb")]
    assert ids == [["sub_p"], ["sub_a"], []]
    assert get(url, "/v1/subscriptions/sub_p", {}, "acct_1Aa").status_code == 404


def test_search_pages_with_next_page() -> None:
    q = parse("payment_intents", "status:'processing' AND created<100")
    assert q.matches({"status": "processing", "created": 99})
    assert not q.matches({"status": "processing", "created": 100})
    assert parse("payment_intents", "-currency:'usd' metadata['k']:'v'").matches(
        {"currency": "eur", "metadata": {"k": "v"}})
    with pytest.raises(QueryError, match="at most 10 clauses"):
        parse("payment_intents", " AND ".join(["amount>1"] * 11))


def test_the_vendored_subset_is_pinned_and_agrees_with_stripe_python() -> None:
    data = json.loads(SUBSET.read_text())
    assert len(data["source"]["commit"]) == 40 and data["source"]["licence"] == "MIT"
    assert (SUBSET.parent / "LICENSE").read_text().startswith("The MIT License")
    for endpoint, spec in subset()["endpoints"].items():
        # Parameters the spec lists that stripe-python no longer has would pass the
        # peer's first check only; each is refused unless both sources agree.
        assert endpoint in SDK_PARAMS
        assert {"expand"} <= set(spec["query"]) & sdk_names(endpoint)
