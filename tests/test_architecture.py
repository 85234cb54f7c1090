"""Imports point one way: the sans-IO core never reaches the sockets, threads and clocks of
the layers around it, and no two modules import each other, directly or through others.

The graph is read from the source with `ast` (every import, at module level or inside a
function; imports under ``if TYPE_CHECKING:`` are left out, as they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pop3mock"

# The protocol core is the Session and everything it imports; a replayed session stands
# in for a Session, so it is held to the same rule.
CORE_ROOTS = ("protocol", "framing", "replay", "recording")
# What the core must never import: the network, the clocks, the layers built around it.
IO_MODULES = {
    "socket",
    "ssl",
    "select",
    "selectors",
    "socketserver",
    "asyncio",
    "subprocess",
    "time",
}
OUTER_LAYERS = {"server", "tls", "plugin", "cli", "__main__", "configfile", "journal", "faults"}


# The layers of docs/architecture.md, from the inside out: a module imports only from its
# own layer or an inner one.
LAYERS: list[set[str]] = [
    {"errors", "_version", "steps", "checks", "_text"},
    {"message", "entries", "mailbox"},
    {"framing", "auth", "config", "personality", "personality_file", "protocol", "recording",
     "replay"},
    {"sources", "fake", "fake_builder", "fake_fill", "fake_headers", "fake_heads",
     "fake_malformed", "fake_mime", "fake_parts", "fake_plan", "fake_vocabulary"},
    {"fault_targets", "fault_syntax", "fault_spec", "fault_actions", "corruptions",
     "fault_rules", "faults"},
    {"journal"},
    {"tls", "server"},
    {"plugin", "cli", "configfile", "probe", "proxy", "__main__", "__init__", "admin"},
]  # fmt: skip
# Subpackages count as one module each: their private modules import each other freely.
SUBPACKAGES = ("admin",)


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, *, inside: bool = False) -> tuple[set[str], set[str]]:
    """(pop3mock modules, top-level outside modules) that `path` imports when it runs.

    `inside`: `path` is in a subpackage, whose relative imports stay inside it.
    """
    ours: set[str] = set()
    outside: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and _is_type_checking_block(node):
            return
        if isinstance(node, ast.ImportFrom):
            if node.module and node.module.startswith("pop3mock.") and node.level == 0:
                ours.add(node.module.split(".")[1])
            elif node.module == "pop3mock" and node.level == 0:
                ours.update(alias.name for alias in node.names)
            elif inside and node.level == 1:
                pass
            elif node.level == 1 and node.module:
                ours.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import name
                ours.update(alias.name for alias in node.names)
            elif node.module:
                outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return ours, outside


def _subpackage(name: str) -> tuple[set[str], set[str]]:
    ours: set[str] = set()
    outside: set[str] = set()
    for path in sorted((PACKAGE / name).glob("*.py")):
        found = _imports(path, inside=True)
        ours |= found[0]
        outside |= found[1]
    return ours - {name}, outside


GRAPH = {path.stem: _imports(path) for path in sorted(PACKAGE.glob("*.py"))}
GRAPH.update({name: _subpackage(name) for name in SUBPACKAGES})


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in GRAPH:
            continue
        seen.add(name)
        todo.extend(GRAPH[name][0])
    return seen


def test_the_graph_is_read() -> None:
    # A guard for the reader itself: module-level, function-level and `from . import x`
    # edges are found; TYPE_CHECKING-only ones are not.
    assert {"config", "mailbox", "message", "auth"} <= GRAPH["protocol"][0]
    assert "socket" in GRAPH["server"][1]
    assert "config" in GRAPH["personality"][0]  # imported inside personality_config()
    assert "ssl" not in GRAPH["plugin"][1]  # only for annotations
    assert GRAPH["__init__"][0] == {"_version"}  # the rest is resolved on first use


@pytest.mark.parametrize("root", CORE_ROOTS)
def test_the_core_imports_no_io_and_no_outer_layer(root: str) -> None:
    core = _reachable(root)
    assert core & OUTER_LAYERS == set(), f"{root} reaches {sorted(core & OUTER_LAYERS)}"
    for name in sorted(core):
        io = GRAPH[name][1] & IO_MODULES
        assert not io, f"{name} (part of the core through {root}) imports {sorted(io)}"


def test_every_module_has_a_layer_and_imports_only_inward() -> None:
    layer_of = {name: n for n, layer in enumerate(LAYERS) for name in layer}
    assert set(GRAPH) == set(layer_of), (
        "a module is missing from LAYERS (or LAYERS names a gone one)"
    )
    outward = sorted(
        f"{name} -> {target}"
        for name, (ours, _) in GRAPH.items()
        for target in ours
        if layer_of[target] > layer_of[name]
    )
    assert outward == []


def test_no_module_depends_on_itself() -> None:
    cycles = sorted(name for name in GRAPH if any(name in _reachable(o) for o in GRAPH[name][0]))
    assert cycles == [], f"import cycles through {cycles}"


def test_the_outermost_layers_are_imported_by_nobody_inside() -> None:
    importers = {
        target: sorted(name for name, (ours, _) in GRAPH.items() if target in ours)
        for target in ("plugin", "cli", "server", "admin")
    }
    assert importers["plugin"] == []
    assert importers["cli"] == ["__main__"]
    assert importers["server"] == ["admin", "cli", "plugin"]
    assert importers["admin"] == ["cli"]
