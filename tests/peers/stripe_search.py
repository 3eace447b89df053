"""Stripe's search query language (docs.stripe.com/search#search-query-language),
as far as the PaymentIntents search uses it: parse a query, refusing what
Stripe refuses, and match objects against it.

A query is up to 10 clauses joined by spaces, `AND` or `OR` (one or the other,
never both). A clause is an optional `-` (negation), a field, an operator and a
value: `status:'requires_action'`, `created<1700000000`,
`metadata['order_id']:'6735'`. Token fields take `:` and a quoted string;
numeric fields also take `>`, `<`, `>=`, `<=` and an integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_CLAUSES = 10
# docs.stripe.com/search#query-fields-for-payment-intents
FIELDS: dict[str, dict[str, str]] = {
    "payment_intents": {"amount": "numeric", "created": "numeric", "currency": "token",
                        "customer": "token", "metadata": "token", "status": "token"},
}
_CLAUSE = re.compile(
    r"""(?P<neg>-)?(?P<field>[a-z_]+)(?:\[(?P<q>["'])(?P<key>[^"']+)(?P=q)\])?"""
    r"""(?P<op>>=|<=|:|>|<)(?P<value>"[^"]*"|'[^']*'|-?\d+|null)$"""
)


class QueryError(ValueError):
    """The message Stripe answers a malformed query with (param `query`)."""


@dataclass(frozen=True)
class Clause:
    negate: bool
    field: str
    key: str | None  # metadata key
    op: str
    value: str | int | None

    def matches(self, obj: dict[str, Any]) -> bool:
        actual = (obj.get("metadata") or {}).get(self.key) if self.key else obj.get(self.field)
        if self.op == ":":
            hit = actual == self.value or (self.value is None and actual in (None, ""))
        elif actual is None or not isinstance(self.value, int):
            hit = False
        else:
            n = int(actual)
            hit = {">": n > self.value, "<": n < self.value,
                   ">=": n >= self.value, "<=": n <= self.value}[self.op]
        return hit != self.negate


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    any_of: bool  # OR rather than AND

    def matches(self, obj: dict[str, Any]) -> bool:
        hits = (c.matches(obj) for c in self.clauses)
        return any(hits) if self.any_of else all(hits)


def _tokens(text: str) -> list[str]:
    """Split on spaces outside quotes."""
    out, cur, quote = [], "", ""
    for ch in text:
        if quote:
            cur += ch
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            cur, quote = cur + ch, ch
        elif ch.isspace():
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if quote:
        raise QueryError(f"Invalid query: unterminated string in '{text}'.")
    return [*out, cur] if cur else out


def parse(resource: str, text: str) -> Query:
    fields = FIELDS.get(resource)
    if fields is None:
        raise QueryError(f"Search is not supported on {resource}.")
    tokens = _tokens(text.strip())
    joins = {t.upper() for t in tokens[1::2] if t.upper() in ("AND", "OR")}
    if len(joins) > 1:
        raise QueryError("Invalid query: AND and OR operators cannot be combined in one query.")
    words = [t for t in tokens if t.upper() not in ("AND", "OR")]
    if not words:
        raise QueryError("Invalid query: the query is empty.")
    if len(words) > MAX_CLAUSES:
        raise QueryError(f"Invalid query: at most {MAX_CLAUSES} clauses can be combined.")
    if len(tokens) > 1 and joins and len(tokens) != 2 * len(words) - 1:
        raise QueryError(f"Invalid query: a clause is missing around AND/OR in '{text}'.")
    clauses = []
    for word in words:
        m = _CLAUSE.match(word)
        if m is None:
            raise QueryError(f"Invalid query: '{word}' is not a clause (field, operator, value).")
        field, op, raw = m["field"], m["op"], m["value"]
        kind = fields.get(field)
        if kind is None:
            raise QueryError(f"Field '{field}' is an unsupported search field for {resource}. "
                             "See https://docs.stripe.com/search#query-fields for the fields.")
        if (m["key"] is not None) != (field == "metadata"):
            raise QueryError(f"Invalid query: '{word}': only metadata takes a [key].")
        value: str | int | None
        if raw == "null":
            value = None
        elif raw[0] in "\"'":
            value = raw[1:-1]
        else:
            value = int(raw)
        if kind == "token" and (op != ":" or isinstance(value, int)):
            raise QueryError(f"Invalid query: '{word}': {field} takes ':' and a quoted string.")
        if kind == "numeric" and op != ":" and not isinstance(value, int):
            raise QueryError(f"Invalid query: '{word}': {field} compares with an integer.")
        clauses.append(Clause(bool(m["neg"]), field, m["key"], op, value))
    return Query(tuple(clauses), joins == {"OR"})
