from __future__ import annotations

import pytest

from billing_monitor.checks.templates import FIELDS, problems, render

VALUES = {"service": "billing", "check": "failed_charges", "severity": "critical",
          "period": "2026-W48", "values": "failed_charges=12 (CRIT 10)", "error": ""}


def test_fields_are_filled_in_and_braces_escaped():
    t = "{severity}: {service}/{check} ({period}) {values} {{not a field}}"
    assert problems(t, "checks.x.summary") == []
    assert render(t, VALUES) == ("critical: billing/failed_charges (2026-W48) "
                                 "failed_charges=12 (CRIT 10) {not a field}")


@pytest.mark.parametrize(("template", "error"), [
    ("{check.__class__.__mro__}", "unknown field {check.__class__.__mro__}"),
    ("{values[0]}", "unknown field {values[0]}"),
    ("{check!r}", "{check} takes no conversion or format spec"),
    ("{check:>999999999}", "{check} takes no conversion or format spec"),
    ("{check:{values}}", "{check} takes no conversion or format spec"),
    ("{0}", "unknown field {0}"),
    ("{}", "unknown field {}"),
    ("{nope}", "unknown field {nope}"),
    ("unbalanced {", "Single '{' encountered"),
    ("x" * 1025, "longer than 1024 characters"),
])
def test_anything_but_a_plain_field_is_refused_naming_the_key(template, error):
    out = problems(template, "checks.failed_charges.summary")
    assert out and all(p.startswith("checks.failed_charges.summary: ") for p in out)
    assert error in out[0]


def test_rendering_evaluates_nothing_and_cuts_visibly():
    hostile = {"check": "{service}", "values": "x" * 2000}  # values are data, never templates
    assert render("{check}", {**VALUES, **hostile}) == "{service}"
    out = render("{severity} {values}", {**VALUES, **hostile}, limit=1024)
    assert len(out) == 1024 and out.endswith("…") and out.startswith("critical xxx")


def test_every_documented_field_is_accepted():
    assert problems(" ".join(f"{{{f}}}" for f in FIELDS), "k") == []
