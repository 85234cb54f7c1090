"""Imports point one way: the sans-IO core never reaches the sockets, threads and clocks of
the layers around it, no layer imports an outer one, and no two modules import each other,
directly or through others.

The graph is read from the source with `ast` (every import, at module level or inside a
function, absolute or relative; imports under ``if TYPE_CHECKING:`` are left out, as they
never run). Its nodes are dotted module names under `pop3mock` ("protocol._session"); a
layer is a top-level entry of the package (a subpackage or a module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pop3mock"

# What the core must never import: the network and the clocks. (A lock is not I/O: the
# mailbox several sessions share holds one.)
IO_MODULES = {
    "asyncio",
    "select",
    "selectors",
    "socket",
    "socketserver",
    "ssl",
    "subprocess",
    "time",
}
# The sans-IO core: every module in it, and everything they import, is held to that rule.
SANS_IO = ("protocol",)
# Sans-IO modules of outer layers (the rules of a conversation with a client, in the server
# layer): no I/O in the module itself, and nothing it reaches touches the network or the
# server's own I/O modules. The inner layers it writes to keep their clocks: the journal
# stamps records with the clock it is given (time.monotonic unless told otherwise).
SANS_IO_MODULES = ("server._conversation",)
NETWORK_MODULES = IO_MODULES - {"time"}

# The layers of docs/architecture.md, from the inside out: a module imports only from its
# own layer or an inner one. "" is the package root (`__version__`, `lazy_exports`).
LAYERS: list[set[str]] = [
    {"", "errors", "checks"},
    {"maildrop"},
    {"protocol"},
    {"fake"},
    {"faults"},
    {"journal"},
    {"server"},
    {"probe"},
    {"plugin", "cli", "admin", "__main__", "__init__"},
]

# The root's own module (`pop3mock/__init__.py`) is the outermost: it names every public
# object. Its two base names are what inner modules may take from it.
ROOT_BASE_NAMES = {"__version__", "lazy_exports"}

Graph = dict[str, tuple[set[str], set[str]]]


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imports(package: Path, path: Path) -> tuple[set[str], set[str]]:
    """(pop3mock modules, top-level outside modules) that `path` imports when it runs."""
    name = _module_name(package, path)
    is_package = path.name == "__init__.py"
    # The package a relative import starts from.
    here = name.split(".") if is_package and name != "__init__" else name.split(".")[:-1]
    ours: set[str] = set()
    outside: set[str] = set()

    def add(dotted: str, names: list[str]) -> None:
        # `from pkg import x`: x is a submodule when pkg/x.py (or pkg/x/) exists.
        folder = _folder(package, dotted)
        for item in names:
            if folder is not None and (
                (folder / f"{item}.py").exists() or (folder / item / "__init__.py").exists()
            ):
                ours.add(f"{dotted}.{item}".strip("."))
            elif dotted == "" and item in ROOT_BASE_NAMES:
                ours.add("")
            elif dotted:
                ours.add(dotted)
            else:
                ours.add("__init__")

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and _is_type_checking_block(node):
            return
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                dotted = ".".join([*base, *(node.module.split(".") if node.module else [])])
                add(dotted, names)
            elif node.module == "pop3mock":
                add("", names)
            elif node.module and node.module.startswith("pop3mock."):
                add(node.module.removeprefix("pop3mock."), names)
            elif node.module:
                outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pop3mock."):
                    ours.add(alias.name.removeprefix("pop3mock."))
                else:
                    outside.add(alias.name.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    ours.discard(name)
    return ours, outside


def _folder(package: Path, dotted: str) -> Path | None:
    folder = package.joinpath(*dotted.split(".")) if dotted else package
    return folder if folder.is_dir() else None


def read_graph(package: Path) -> Graph:
    return {
        _module_name(package, path): _imports(package, path)
        for path in sorted(package.rglob("*.py"))
    }


def layer(module: str) -> str:
    """The top-level entry a module belongs to ("protocol._session" -> "protocol")."""
    return module.split(".")[0]


def outward_imports(graph: Graph) -> list[str]:
    layer_of = {name: n for n, names in enumerate(LAYERS) for name in names}
    return sorted(
        f"{name} -> {target}"
        for name, (ours, _) in graph.items()
        for target in ours
        if layer_of[layer(target)] > layer_of[layer(name)]
    )


def reachable(graph: Graph, start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo.extend(graph[name][0])
    return seen


GRAPH = read_graph(PACKAGE)


def test_the_graph_is_read() -> None:
    # A guard for the reader itself: module-level, function-level, relative and
    # `from pkg import module` edges are found; TYPE_CHECKING-only ones are not.
    assert {"protocol._config", "protocol._auth"} <= GRAPH["protocol._session_base"][0]
    assert "maildrop._mailbox" in GRAPH["protocol._uids"][0]
    assert "socket" in GRAPH["server._server"][1]
    assert "protocol._config" in GRAPH["protocol._personality"][0]  # inside a function
    assert "ssl" not in GRAPH["plugin"][1]  # only for annotations
    assert "probe._probe" in GRAPH["probe._proxy"][0]  # from pop3mock.probe import _probe
    assert GRAPH["__init__"][0] == set()  # the rest is resolved on first use
    assert GRAPH["protocol"][0] == {""}  # lazy_exports only


def test_the_reader_catches_an_upward_import(tmp_path: Path) -> None:
    # The checks below must not pass vacuously: a tree with one bad import fails them.
    for folder in ("protocol", "server"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "server" / "_server.py").write_text("import socket\n")
    (tmp_path / "protocol" / "_session.py").write_text(
        "def later():\n    from ..server import _server\n"
    )
    (tmp_path / "protocol" / "_config.py").write_text("from pop3mock.server._server import x\n")
    graph = read_graph(tmp_path)
    assert outward_imports(graph) == [
        "protocol._config -> server._server",
        "protocol._session -> server._server",
    ]
    assert "socket" in graph["server._server"][1]
    assert "server._server" in reachable(graph, "protocol._session")


@pytest.mark.parametrize("root", SANS_IO)
def test_the_core_imports_no_io_and_no_outer_layer(root: str) -> None:
    for module in sorted(m for m in GRAPH if layer(m) == root):
        core = reachable(GRAPH, module)
        outer = sorted({layer(m) for m in core} - {"", "errors", "checks", "maildrop", root})
        assert outer == [], f"{module} reaches {outer}"
        for name in sorted(core):
            io = GRAPH[name][1] & IO_MODULES
            assert not io, f"{name} (reached from {module}) imports {sorted(io)}"


def sans_io_problems(graph: Graph, module: str) -> list[str]:
    """What keeps `module` (of an outer layer) from being sans-IO, as sentences."""
    problems = [f"{module} imports {name}" for name in sorted(graph[module][1] & IO_MODULES)]
    for name in sorted(reachable(graph, module) - {module}):
        if layer(name) == layer(module):
            problems.append(f"{module} reaches {name}, of its own layer")
        for io in sorted(graph[name][1] & NETWORK_MODULES):
            problems.append(f"{module} reaches {name}, which imports {io}")
    return problems


@pytest.mark.parametrize("module", SANS_IO_MODULES)
def test_the_conversation_is_sans_io(module: str) -> None:
    assert module in GRAPH
    assert sans_io_problems(GRAPH, module) == []


def test_the_sans_io_check_catches_io(tmp_path: Path) -> None:
    # Not vacuous: a conversation that reads the clock, or reaches a socket through the
    # module beside it, fails.
    for folder in ("journal", "server"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "journal" / "_journal.py").write_text("import time\n")
    (tmp_path / "server" / "_connection.py").write_text("import socket\n")
    (tmp_path / "server" / "_conversation.py").write_text(
        "import time\nfrom pop3mock.journal import _journal\nfrom . import _connection\n"
    )
    assert sans_io_problems(read_graph(tmp_path), "server._conversation") == [
        "server._conversation imports time",
        "server._conversation reaches server._connection, of its own layer",
        "server._conversation reaches server._connection, which imports socket",
    ]


def test_every_module_has_a_layer_and_imports_only_inward() -> None:
    layers = {name for names in LAYERS for name in names} - {""}
    entries = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if path.suffix == ".py" or (path / "__init__.py").exists()
    }
    assert entries == layers, (
        "a top-level entry is missing from LAYERS (or LAYERS names a gone one)"
    )
    assert outward_imports(GRAPH) == []


def test_no_module_depends_on_itself() -> None:
    cycles = sorted(
        name for name in GRAPH if any(name in reachable(GRAPH, o) for o in GRAPH[name][0])
    )
    assert cycles == [], f"import cycles through {cycles}"


def test_the_outermost_layers_are_imported_by_nobody_inside() -> None:
    def importers(target: str) -> list[str]:
        return sorted(
            {
                layer(name)
                for name, (ours, _) in GRAPH.items()
                if any(layer(t) == target for t in ours)
            }
            - {target}
        )

    assert importers("plugin") == []
    assert importers("cli") == ["__main__"]
    assert importers("admin") == ["cli"]
    assert set(importers("server")) <= {"admin", "cli", "plugin"}


def test_the_top_level_is_small() -> None:
    # One folder per layer that has several modules: a newcomer sees the layers at a glance.
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 15, sorted(entries)
