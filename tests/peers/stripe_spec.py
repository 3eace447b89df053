"""Refuse what Stripe refuses: every GET the test peer receives is checked
against Stripe's OpenAPI specification at a pinned version (the subset the
product uses, vendored in tests/stripe_openapi/) and against the installed
stripe-python's own parameter types (version-matched to the SDK we ship).

Refused, with the 400 `invalid_request_error` bodies Stripe documents: a route
the subset does not list, an unknown parameter, a value of the wrong type or
outside its enum, `limit` outside 1..100, more than 20 `types`, a `types[]`
value that is not an event type the specification names (nor a `type`
pattern that matches none), `type` with `types`, `starting_after` with
`ending_before`, an `expand` of a field that is not expandable (`total_count`
on search among them) and a malformed search query
(tests/peers/stripe_search.py).
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from tests.peers.stripe_search import QueryError, parse

SUBSET = Path(__file__).resolve().parents[1] / "stripe_openapi" / "subset.json"
Obj = dict[str, Any]
Error = tuple[int, Obj]
# The stripe-python TypedDict naming what each endpoint accepts.
SDK_PARAMS = {
    "GET /v1/charges/{charge}": "ChargeRetrieveParams",
    "GET /v1/events": "EventListParams",
    "GET /v1/invoices": "InvoiceListParams",
    "GET /v1/payment_intents": "PaymentIntentListParams",
    "GET /v1/payment_intents/search": "PaymentIntentSearchParams",
    "GET /v1/payment_intents/{intent}": "PaymentIntentRetrieveParams",
    "GET /v1/subscriptions": "SubscriptionListParams",
    "GET /v1/webhook_endpoints": "WebhookEndpointListParams",
}
_INT = re.compile(r"^-?\d+$")


def invalid(message: str, param: str | None = None, code: str | None = None) -> Error:
    body: Obj = {"type": "invalid_request_error", "message": message}
    if param is not None:
        body["param"] = param
    if code is not None:
        body["code"] = code
    return 400, {"error": body}


@cache
def subset() -> Obj:
    data: Obj = json.loads(SUBSET.read_text("utf-8"))
    return data


@cache
def sdk_names(endpoint: str) -> frozenset[str]:
    from stripe import RequestOptions

    cls = getattr(importlib.import_module("stripe.params"), SDK_PARAMS[endpoint])
    return frozenset(cls.__annotations__) - frozenset(RequestOptions.__annotations__)


def route(method: str, path: str) -> str | None:
    for key in subset()["endpoints"]:
        m, template = key.split(" ", 1)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[A-Za-z0-9_]+", re.escape(template))
        if m == method and re.fullmatch(pattern, path):
            return str(key)
    return None


def decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form keys to values: `a` -> str, `a[]`/`a[0]` -> list, `a[b]` -> dict."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        m = re.fullmatch(r"([a-z_]+)(?:\[([a-z_0-9]*)\])?", key)
        if m is None:
            out[key] = value  # refused below as unknown
        elif m[2] is None:
            out[m[1]] = value
        elif m[2] == "" or m[2].isdigit():
            out.setdefault(m[1], []).append(value)
        else:
            out.setdefault(m[1], {})[m[2]] = value
    return out


def _value(name: str, value: Any, schema: Obj) -> Error | None:
    if "anyOf" in schema:
        errors = [_value(name, value, s) for s in schema["anyOf"]]
        return None if None in errors else errors[0]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return invalid(f"Invalid hash: {name}", name)
        props = schema.get("properties", {})
        for sub, v in value.items():
            if sub not in props:
                return invalid(f"Received unknown parameter: {name}[{sub}]", f"{name}[{sub}]")
            err = _value(f"{name}[{sub}]", v, props[sub])
            if err:
                return err
        return None
    if kind == "array":
        if not isinstance(value, list):
            return invalid(f"Invalid array: {name}", name)
        return next((e for v in value if (e := _value(name, v, schema["items"]))), None)
    if not isinstance(value, str):
        return invalid(f"Invalid {kind or 'value'}: {name}", name)
    if kind == "integer" and not _INT.match(value):
        return invalid(f"Invalid integer: {value}", name)
    if kind == "boolean" and value not in ("true", "false"):
        return invalid(f"Invalid boolean: {value}", name)
    if "enum" in schema and value not in schema["enum"]:
        return invalid(f"Invalid {name}: must be one of {', '.join(schema['enum'])}", name)
    return None


def _expand(endpoint: Obj, paths: list[str]) -> Error | None:
    exp = endpoint["expand"]
    for path in paths:
        parts = path.split(".")
        if len(parts) > 4:
            return invalid(f"You cannot expand more than 4 levels of a property ({path}).",
                           "expand")
        if parts[0] == "total_count":  # an includable field of old list APIs only
            return invalid("This property cannot be included (total_count).", "expand")
        if parts[0] not in exp["fields"]:
            return invalid(f"This property cannot be expanded ({parts[0]}).", "expand")
        if "item_fields" in exp and len(parts) > 1 and parts[1] not in exp["item_fields"]:
            return invalid(f"This property cannot be expanded ({path}).", "expand")
    return None


def _rules(key: str, params: dict[str, Any]) -> Error | None:
    """What the reference documents beyond types (the parameters' descriptions)."""
    if "limit" in params and not 1 <= int(params["limit"]) <= 100:
        return invalid("This value must be greater than or equal to 1 and less than or "
                       "equal to 100.", "limit")
    if "starting_after" in params and "ending_before" in params:
        return invalid("Received both starting_after and ending_before parameters. "
                       "Please pass in only one.")
    if "type" in params and "types" in params:
        return invalid("You may pass either type or types, but not both.", "types")
    if len(params.get("types", [])) > 20:
        return invalid("You may pass up to 20 types.", "types")
    if key == "GET /v1/events":
        known = set(subset()["event_types"])
        for i, name in enumerate(params.get("types", [])):
            if name not in known:
                return invalid(f"Invalid types[{i}]: {name} is not an event type", "types")
        wanted = params.get("type")
        if isinstance(wanted, str) and not any(
                re.fullmatch(re.escape(wanted).replace(r"\*", ".*"), t) for t in known):
            return invalid(f"Invalid type: {wanted} matches no event type", "type")
    if key.endswith("/search"):
        if "query" not in params:
            return invalid("Missing required param: query.", "query")
        try:
            parse(key.split("/")[2], params["query"])
        except QueryError as exc:
            return invalid(str(exc), "query")
    return None


def check(
    method: str, path: str, pairs: list[tuple[str, str]], account: str | None
) -> Error | None:
    """None when Stripe would accept the request, else its 400 answer."""
    key = route(method, path)
    if key is None:
        return 404, {"error": {"type": "invalid_request_error",
                               "message": f"Unrecognized request URL ({method}: {path})."}}
    if account is not None and not re.fullmatch(r"acct_[A-Za-z0-9]+", account):
        return invalid(f"The provided Stripe-Account header is invalid: {account}")
    endpoint = subset()["endpoints"][key]
    params = decode(pairs)
    for name, value in params.items():
        schema = endpoint["query"].get(name)
        if schema is None or name not in sdk_names(key):
            return invalid(f"Received unknown parameter: {name}", name)
        err = _value(name, value, schema)
        if err:
            return err
    return _expand(endpoint, params.get("expand", [])) or _rules(key, params)
