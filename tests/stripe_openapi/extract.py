"""Extract the part of Stripe's OpenAPI specification the product uses into
`subset.json` (the GET endpoints the checks and bench/stripe_requests.py call:
their query parameters with types and enums, and the fields each response
allows to be expanded), so the test peer can refuse what Stripe refuses.

The specification comes from the stripe/openapi repository (MIT, see LICENSE
here). Re-run when pinning a newer version and commit the result with VERSION:

    git --git-dir=<stripe/openapi clone>/.git show <commit>:openapi/spec3.json > spec3.json
    python tests/stripe_openapi/extract.py spec3.json <commit> <commit date>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENDPOINTS = (
    "/v1/charges/{charge}",
    "/v1/events",
    "/v1/invoices",
    "/v1/payment_intents",
    "/v1/payment_intents/search",
    "/v1/payment_intents/{intent}",
    "/v1/subscriptions",
    "/v1/webhook_endpoints",
)
_DROP = {"description", "title", "maxLength", "format", "nullable"}


def _slim(schema: Any) -> Any:
    """The schema without prose: what a value must be, nothing else."""
    if isinstance(schema, dict):
        return {k: _slim(v) for k, v in sorted(schema.items()) if k not in _DROP}
    if isinstance(schema, list):
        return [_slim(v) for v in schema]
    return schema


def _component(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    out: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return out


def _expandable(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Top-level expandable fields, and for lists and search results the
    fields of each item (`expand[]=data.<field>`)."""
    if "$ref" in schema:
        schema = _component(spec, schema["$ref"])
    out: dict[str, Any] = {"fields": sorted(schema.get("x-expandableFields", []))}
    items = schema.get("properties", {}).get("data", {}).get("items", {})
    if "$ref" in items:
        out["item_object"] = items["$ref"].rsplit("/", 1)[1]
        out["item_fields"] = sorted(_component(spec, items["$ref"]).get("x-expandableFields", []))
    return out


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    endpoints: dict[str, Any] = {}
    for path in ENDPOINTS:
        op = spec["paths"][path]["get"]
        params = {p["name"]: _slim(p["schema"]) for p in op.get("parameters", [])
                  if p["in"] == "query"}
        response = op["responses"]["200"]["content"]["application/json"]["schema"]
        endpoints[f"GET {path}"] = {"query": params, "expand": _expandable(spec, response)}
    return endpoints


def event_types(spec: dict[str, Any]) -> list[str]:
    """Every event type the specification names: the enum of a webhook
    endpoint's `enabled_events` (without the `*` wildcard). `GET /v1/events`
    documents `types[]` as "specific event names"; the peer refuses a name not
    in this list (a misspelt type would otherwise match nothing, silently)."""
    body = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]
    props = body["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    return sorted(e for e in props["enabled_events"]["items"]["enum"] if e != "*")


def main(argv: list[str]) -> None:
    spec_file, commit, date = argv[1], argv[2], argv[3]
    spec = json.loads(Path(spec_file).read_text("utf-8"))
    subset = {
        "source": {"repository": "https://github.com/stripe/openapi", "file": "openapi/spec3.json",
                   "commit": commit, "commit_date": date,
                   "openapi_info_version": spec["info"]["version"], "licence": "MIT"},
        "endpoints": extract(spec),
        "event_types": event_types(spec),
    }
    (HERE / "subset.json").write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv)
