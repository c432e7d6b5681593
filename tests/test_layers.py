"""The layer rule of DESIGN.md, read from the source with ``ast``: imports only go down, no import
cycles (counting imports inside functions and under ``TYPE_CHECKING`` too), no module imports
another's ``_private`` names, the web framework and the password hash library stay where they
belong, migrations use only the data layer, and the relying parties in clients/ import nothing
from ``sso``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sso"

# Low to high. A module may import its own layer and the ones below. `sso.runtime` holds the
# process-wide objects (settings, engine, session factory, encryptor); it imports only config,
# core and db, so it sits just above db and services may take a Runtime.
LAYERS: dict[str, float] = {
    "sso": 0,  # the package's own __init__ (version, docstring)
    "sso.core": 0,
    "sso.config": 0,
    "sso.db": 1,
    "sso.storage": 2,
    "sso.accounts": 3,
    "sso.oauth": 4,
    "sso.oidc": 5,
    "sso.federation": 5.5,
    "sso.webhooks": 4.5,  # services on storage and the SSRF-guarded HTTP of sso.oauth
    "sso.runtime": 1.5,
    "sso.web": 6,
    "sso.admin": 6,
    "sso.developers": 6,
    "sso.api": 6,
    # Configuration as code drives the admin console's services (sso.admin.services), so it
    # sits beside the console, below the composition roots (the CLI).
    "sso.config_code": 6,
    "sso.scim": 6,
    "sso.app": 7,
    "sso.cli": 7,
    "sso.settings_doc": 7,
}
HTTP_LAYERS = ("sso.web", "sso.admin", "sso.developers", "sso.api", "sso.scim", "sso.app")
# Third-party packages allowed only in some parts of `sso` (prefixes of module names).
RESTRICTED: dict[str, tuple[str, ...]] = {
    "fastapi": HTTP_LAYERS,
    "starlette": HTTP_LAYERS,
    "jinja2": HTTP_LAYERS,
    "passlib": ("sso.accounts.passwords",),
}
# Migrations describe tables: they may use the data layer and its leaves, nothing above.
MIGRATIONS_MAX_LAYER = LAYERS["sso.db"]


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (absolute)
    path: Path
    line: int
    top_level: bool  # runs at import time (not in a function, not under TYPE_CHECKING)
    names: tuple[str, ...] = ()  # the names of a ``from x import a, b`` (not the module ones)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sso_modules() -> dict[str, Path]:
    return {
        _module_name(path, ROOT): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, top_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it runs when the module is imported."""
    for child in ast.iter_child_nodes(node):
        child_top = top_level
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            child_top = False
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child.test, top_level
            for stmt in child.body:
                yield stmt, False
                yield from _walk(stmt, False)
            for stmt in child.orelse:
                yield stmt, top_level
                yield from _walk(stmt, top_level)
            continue
        yield child, child_top
        yield from _walk(child, child_top)


def _imports(path: Path, module: str, known: set[str]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node, top_level in _walk(tree, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno, top_level)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if not is_package:
                    package = package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                # `from sso.db import models` imports the module sso.db.models.
                candidate = f"{base}.{alias.name}"
                if candidate in known:
                    yield Import(module, candidate, path, node.lineno, top_level)
                else:
                    yield Import(module, base, path, node.lineno, top_level, (alias.name,))


def _all_imports() -> list[Import]:
    modules = _sso_modules()
    known = set(modules)
    return [imp for name, path in modules.items() for imp in _imports(path, name, known)]


def _layer_key(module: str) -> str | None:
    """The LAYERS entry a module belongs to (the longest matching prefix)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in LAYERS:
            return key
    return None


def _is_within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _report(title: str, lines: list[str]) -> str:
    return f"{title}:\n  " + "\n  ".join(lines)


def test_every_module_has_a_layer() -> None:
    unknown = sorted(name for name in _sso_modules() if _layer_key(name) is None)
    assert not unknown, _report(
        "modules outside every layer (add them to LAYERS in tests/test_layers.py)", unknown
    )


def test_imports_only_go_down() -> None:
    offending = []
    for imp in _all_imports():
        if not _is_within(imp.target, ("sso",)):
            continue
        own, other = _layer_key(imp.module), _layer_key(imp.target)
        if own is None or other is None:
            continue  # reported by test_every_module_has_a_layer
        if LAYERS[other] > LAYERS[own]:
            offending.append(
                f"{imp.where()}: {imp.module} (layer {own}={LAYERS[own]:g}) imports "
                f"{imp.target} (layer {other}={LAYERS[other]:g})"
            )
    assert not offending, _report("imports that go up a layer (see DESIGN.md, Layers)", offending)


def test_restricted_libraries_stay_in_their_place() -> None:
    offending = []
    for imp in _all_imports():
        for library, allowed in RESTRICTED.items():
            if _is_within(imp.target, (library,)) and not _is_within(imp.module, allowed):
                offending.append(
                    f"{imp.where()}: {imp.module} imports {imp.target} "
                    f"(allowed only in {', '.join(allowed)})"
                )
    assert not offending, _report("third-party imports outside their layer", offending)


def test_no_import_cycles() -> None:
    """Cycles among all imports: an import moved into a function or under ``TYPE_CHECKING``
    still ties the two modules together, it only hides the cycle from the interpreter."""
    graph: dict[str, set[str]] = {}
    known = set(_sso_modules())
    for imp in _all_imports():
        if imp.target in known and imp.target != imp.module:
            graph.setdefault(imp.module, set()).add(imp.target)

    cycles: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, _report("import cycles", cycles)


# Cross-module imports of ``_private`` names that predate the rule (issue 17). Each is a name
# another module needs: make it public (or move it) and delete its line here. New code may not
# add any: the test fails on an entry that is not listed, and on a listed one that is gone.
PRIVATE_IMPORTS_ALLOWED: frozenset[tuple[str, str, str]] = frozenset(
    {
        # (importing module, imported module, name)
    }
)


def _private_imports() -> set[tuple[str, str, str]]:
    known = set(_sso_modules())
    found = set()
    for imp in _all_imports():
        if imp.target not in known or imp.target == imp.module:
            continue
        for name in imp.names:
            if name.startswith("_") and not name.startswith("__"):
                found.add((imp.module, imp.target, name))
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = _private_imports()
    new = sorted(f"{m} imports {t}.{n}" for m, t, n in found - PRIVATE_IMPORTS_ALLOWED)
    assert not new, _report(
        "imports of another module's _private names (make the name public, or move it)", new
    )
    gone = sorted(f"{m} -> {t}.{n}" for m, t, n in PRIVATE_IMPORTS_ALLOWED - found)
    assert not gone, _report("PRIVATE_IMPORTS_ALLOWED entries no longer needed", gone)


def test_migrations_use_only_the_data_layer() -> None:
    migrations = ROOT / "migrations"
    known = set(_sso_modules())
    offending = []
    for path in sorted(migrations.rglob("*.py")):
        for imp in _imports(path, _module_name(path, ROOT), known):
            key = _layer_key(imp.target) if _is_within(imp.target, ("sso",)) else None
            if key is not None and LAYERS[key] > MIGRATIONS_MAX_LAYER:
                offending.append(f"{imp.where()}: imports {imp.target} (layer {key})")
    assert not offending, _report("migrations importing above sso.db", offending)


def test_clients_import_nothing_from_sso() -> None:
    clients = ROOT / "clients"
    if not clients.is_dir():
        return
    offending = []
    for path in sorted(clients.rglob("*.py")):
        if "__pycache__" in path.parts or ".venv" in path.parts:
            continue
        for imp in _imports(path, _module_name(path, ROOT), set()):
            if _is_within(imp.target, ("sso",)):
                offending.append(f"{imp.where()}: imports {imp.target}")
    assert not offending, _report(
        "relying parties must talk to the provider over HTTP only, not import sso", offending
    )


def test_the_checker_sees_imports() -> None:
    """Guard against a checker that silently finds nothing."""
    imports = _all_imports()
    targets = {(imp.module, imp.target) for imp in imports}
    assert ("sso.runtime", "sso.config") in targets
    assert ("sso.db.models", "sso.db.models.audit") in targets
    assert len(imports) > 50
    assert any(not imp.top_level for imp in imports)  # function-level and TYPE_CHECKING ones
    assert ("sso.oidc.provider", "sso.oauth.server") in targets
