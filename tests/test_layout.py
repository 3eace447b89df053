"""The layout holds: layers import one way, no import cycle, no module over
250 lines, the product assembled in one place (README "Development").

The layers, from the ground up (a module may import its own layer and the
layers below it, never one above):

  checks     billing_monitor.checks: the check contract, options, thresholds,
             the alert policy as data, the schedule's and the period's meaning
  alerts     billing_monitor.alerts: sink and notifier contracts with their
             null objects, and the sinks and notifiers
  basics     billing_monitor's own top-level helpers: clock, logs, tables
  settings   billing_monitor.settings: loading and validating the configuration
  alerting   billing_monitor.alerting: deciding (engine, policy, state store,
             outbox, dispatcher, silences, status)
  checking   billing_monitor.checking: running checks (runner, billing
             database, services, wiring)
  daemon     billing_monitor.daemon: the loop, scheduler, signals, HTTP
  assembly   billing_monitor.assembly: builds the product
  commands   billing_monitor.commands: one module per subcommand
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "billing_monitor"
FOLDERS = {"monitor": PACKAGE, "checks": f"{PACKAGE}.checks", "alerts": f"{PACKAGE}.alerts"}
LAYERS = ["checks", "alerts", "basics", "settings", "alerting", "checking", "daemon",
          "assembly", "commands"]
MAX_LINES = 250
# Only assembly.py builds these: the product's pipeline, assembled once.
ASSEMBLED = ("AlertEngine", "Dispatcher", "Runner", "AppServices", "StatsdSink",
             "PrometheusSink", "ScrubbingSink", "Wiring", "AlertingHooks")


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "basics"
    second = parts[1]
    if second in LAYERS:
        return second
    if second == "__main__":
        return "commands"
    return "basics"  # clock, logs, tables


def imports(path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """Every project module `path` imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ("monitor", "checks", "alerts"):
                raise AssertionError(f"{path}:{node.lineno}: imports {node.module}, "
                                     f"not {PACKAGE}.*")
            if node.module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:  # `from billing_monitor.alerting import outbox`
                sub = f"{node.module}.{alias.name}"
                yield sub if sub in known else node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: {i for i in imports(p, known) if i != m} for m, p in known.items()}


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    return [f"{a} ({layer(a)}) imports {b} ({layer(b)})"
            for a, targets in edges.items() for b in sorted(targets)
            if LAYERS.index(layer(b)) > LAYERS.index(layer(a))]


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer_and_the_folders_are_the_layers() -> None:
    found = modules()
    assert f"{PACKAGE}.assembly" in found and f"{PACKAGE}.commands.cli" in found
    assert {layer(m) for m in found} == set(LAYERS)


def test_layers_import_one_way() -> None:
    assert upward(graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_what_they_are_for() -> None:
    """The rules above would fail on the old layout's faults."""
    bad = {"billing_monitor.checks.base": {"billing_monitor.alerting.policy"},
           "billing_monitor.commands.cli": {"billing_monitor.commands.check"},
           "billing_monitor.commands.check": {"billing_monitor.commands.cli"},
           "billing_monitor.alerting.policy": set()}
    assert upward(bad) == ["billing_monitor.checks.base (checks) imports "
                           "billing_monitor.alerting.policy (alerting)"]
    assert cycles(bad) == [["billing_monitor.commands.check", "billing_monitor.commands.cli"]]


def test_no_module_is_over_250_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("name", ASSEMBLED)
def test_the_product_is_assembled_in_one_place(name: str) -> None:
    builders = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == name):
                builders.add(module)
    assert builders == {f"{PACKAGE}.assembly"}


def test_only_the_commands_read_the_environment() -> None:
    """Secrets are read once, at the edge (the command line and `run`'s
    reload), and handed down."""
    readers = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.add(module)
    assert readers == {f"{PACKAGE}.commands.cli"}
