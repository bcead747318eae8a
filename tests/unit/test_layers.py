"""The house's shape, checked: imports run one way, down the layers of docs/architecture.md.

Every ``import`` in relief/ counts, also those inside functions (a deferred import hides a
cycle; it does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "relief"

#: From the bottom up. A module may import its own layer and those below it, never above.
LAYERS: list[tuple[str, ...]] = [
    # relief.verify stands alone: the standard library only (test_verify_stands_alone).
    (
        "relief.errors",
        "relief.config",
        "relief.money",
        "relief.validation",
        "relief.models",
        "relief.verify",
        "relief.i18n",
    ),
    # The core; the outbox (relief/outbox: enqueue, claim, finish) is written to by services.
    ("relief.db", "relief.ledger", "relief.projection", "relief.qr", "relief.outbox"),
    (
        "relief.drives",
        "relief.drive_pages",
        "relief.share",
        "relief.drive_images",
        "relief.matches",
        "relief.public_ledger",
        "relief.payments",
        "relief.treasury",
        "relief.organize",
        "relief.reports",
        "relief.privacy",
        "relief.backup",
        "relief.demo",
        "relief.sign_in_sessions",
        "relief.sign_in_throttle",
        "relief.presenters",
        "relief.ratelimit",
        "relief.forms",
        "relief.mail",
        "relief.donor_access",
        "relief.members",
        "relief.accounts",
        "relief.two_factor",
        "relief.organization",
    ),
    # The shared edge of every request: the unit of work, the page cache, what views share,
    # and the sign-in machinery with the per-chapter guards (auth).
    ("relief.boundary", "relief.pagecache", "relief.web", "relief.auth"),
    # The boundaries: where a request, a command or a job begins and its unit commits.
    (
        "relief.views",
        "relief.cli",
        "relief.cli_accounts",
        "relief.payments.commands",
        "relief.payments.fee_reader",
        "relief.payments.refund_reader",
        "relief.payments.drain",
        "relief.outbox.worker",
        "relief.treasury.commands",
        "relief.reports.cli",
    ),
    ("relief",),
]


BOUNDARY_LAYER = 4


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The relief modules ``path`` imports (``from relief import x`` counts as relief.x)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("relief"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("relief"):
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if _is_module(candidate) else source)
    found.discard(here)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


def layer_of(module: str) -> int:
    best, depth = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            inside = module.startswith(name + ".") and name != "relief"  # the package: itself only
            if (module == name or inside) and len(name) > depth:
                best, depth = index, len(name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the docs")
    return best


def _top(module: str) -> str:
    """The room a module lives in: relief.treasury.gifts -> relief.treasury."""
    return ".".join(module.split(".")[:2])


def test_every_module_is_in_a_layer():
    for module in graph():
        layer_of(module)


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_cycle_between_rooms():
    """Between the rooms below the boundaries: a command module in treasury/ may use the
    boundary, which uses treasury's audit log, without the rooms depending on each other."""
    rooms: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if layer_of(module) >= BOUNDARY_LAYER:
            continue
        rooms.setdefault(_top(module), set()).update(
            _top(t) for t in targets if _top(t) != _top(module)
        )
    assert _cycles(rooms) == []


def test_no_import_cycle_between_modules():
    modules = graph()
    # A package's __init__ re-exporting its own modules is not a cycle between concerns.
    edges = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in modules.items()
    }
    assert _cycles(edges) == []


def test_views_import_no_other_view():
    crossing = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module.startswith("relief.views.")
        for target in targets
        if target.startswith("relief.views.") and _view_room(target) != _view_room(module)
    ]
    assert crossing == []


def _view_room(module: str) -> str:
    return ".".join(module.split(".")[:3])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_verify_stands_alone():
    """relief/verify.py is downloaded and run by anyone: it imports only the standard library."""
    import sys

    tree = ast.parse((PACKAGE / "verify.py").read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported - {"__future__"} <= sys.stdlib_module_names, imported


@pytest.mark.parametrize(
    "edges, expected",
    [({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]), ({"a": {"b"}, "b": set()}, [])],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert _cycles(edges) == expected
