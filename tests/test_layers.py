"""Layers: arrows point down. The shared floor imports no domain and no composition root.

Read from the source with `ast` (no import runs), so an import hidden inside a function counts
as much as one at the top of a module. Imports under `if TYPE_CHECKING:` create no runtime edge;
they are checked separately, so a typing-only reach upwards is visible too.

Something lower that needs something higher takes a registration (`registry.py` lists the jobs
that `state.build_state` and the worker run; `loaders.Loaders.get` makes a domain's DataLoaders),
not an import. The debt still left is listed in `ALLOWED`, each edge with its reason: paying one
off makes its entry stale, and the test asks for it to be removed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import watchparty

PACKAGE = Path(watchparty.__file__).parent

# The shared floor: what every domain may use. Packages end with a dot (all their modules).
FLOOR = (
    "watchparty.access_tokens",
    "watchparty.config",
    "watchparty.context",
    "watchparty.db",
    "watchparty.errors",
    "watchparty.jobs",
    "watchparty.jobs_buffer",
    "watchparty.loaders",
    "watchparty.logs",
    "watchparty.mail",
    "watchparty.observability",
    "watchparty.resilient_worker",
    "watchparty.state",
    "watchparty.gql.",
    "watchparty.kit.",
    "watchparty.realtime.",
    "watchparty.events.",
)

# What the floor must not import: the domains, and the composition root that wires them.
UPPER = (
    "watchparty.accounts",
    "watchparty.billing",
    "watchparty.chat",
    "watchparty.parties",
    "watchparty.party_stream",
    "watchparty.polls",
    "watchparty.reactions",
    "watchparty.videos",
    "watchparty.voice",
    "watchparty.app",
    "watchparty.cli",
    "watchparty.client_config",
    "watchparty.registry",
    "watchparty.schema",
    "watchparty.seed",
    "watchparty.seed_video",
    "watchparty.worker",
)

# Known debt: (floor module, what it imports) -> why it is still there. Do not add to this
# without a reason as honest as these; remove an entry as soon as its import is gone.
ALLOWED: dict[tuple[str, str], str] = {
    # `Context.viewer()`/`require_viewer()` return the accounts' `User`, read through the
    # accounts' loaders; some sixty resolver call sites use them. Next step: an accounts
    # function (`accounts.viewer(info)`) and a floor context that knows only the claims.
    ("watchparty.context", "watchparty.accounts.loaders"): "viewer lookup",
    ("watchparty.context", "watchparty.accounts.models"): "viewer's type (User)",
    # The query-cost model bounds two paged lists by their domains' caps; a domain could
    # register its list bounds instead.
    ("watchparty.gql.cost", "watchparty.parties.models"): "Party.queue bound",
    ("watchparty.gql.cost", "watchparty.polls.models"): "Poll.options bound",
    # The GraphQL endpoint authenticates a request (`check_request_sign_in`, and
    # `signed_in_user` for a socket) and ends revoked sign-ins' sockets (`revocations`): an
    # authenticator the composition root passes in would remove both.
    ("watchparty.gql.view", "watchparty.accounts.revocations"): "revoked sign-ins",
    ("watchparty.gql.view", "watchparty.accounts.sessions"): "check_request_sign_in",
    ("watchparty.gql.websocket", "watchparty.accounts.revocations"): "revoked sign-ins",
}

# Typing-only reaches upwards (`if TYPE_CHECKING:`), no runtime edge; none today.
ALLOWED_TYPE_CHECKING: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p) for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules `node` names: `from watchparty.x import y` names `watchparty.x.y` when `y` is
    a module of the package, else `watchparty.x`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if not is_package:
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    named = [f"{base}.{alias.name}" for alias in node.names]
    submodules = [name for name in named if name in MODULES]
    return submodules if len(submodules) == len(named) else [base, *submodules]


def imports_of(path: Path, module: str) -> dict[str, set[str]]:
    """A module's watchparty imports by where they stand: "top", "function", "type_checking"."""
    is_package = path.name == "__init__.py"
    found: dict[str, set[str]] = {"top": set(), "function": set(), "type_checking": set()}

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                names = _imported(child, module, is_package)
                found[where].update(n for n in names if n.split(".")[0] == "watchparty")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, "function")
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), "type_checking")
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), where)
            else:
                visit(child, where)

    visit(ast.parse(path.read_text(encoding="utf-8")), "top")
    return found


def _is_floor(module: str) -> bool:
    return any(module == f or (f.endswith(".") and module.startswith(f)) for f in FLOOR)


def _is_upper(target: str) -> bool:
    return any(target == u or target.startswith(u + ".") for u in UPPER)


def _floor_edges(where: tuple[str, ...]) -> set[tuple[str, str]]:
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if not _is_floor(module):
            continue
        found = imports_of(path, module)
        for kind in where:
            edges |= {(module, t) for t in found[kind] if _is_upper(t)}
    return edges


def test_the_floor_modules_exist() -> None:
    for floor in FLOOR:
        assert floor in MODULES or any(m.startswith(floor) for m in MODULES), floor


def test_the_floor_imports_no_domain_at_runtime() -> None:
    """At the top of a module or inside a function alike."""
    edges = _floor_edges(("top", "function"))
    unexpected = sorted(edges - set(ALLOWED))
    assert not unexpected, f"the floor reaches up (take a registration instead): {unexpected}"
    stale = sorted(set(ALLOWED) - edges)
    assert not stale, f"debt paid off, remove from ALLOWED: {stale}"


def test_the_floor_imports_no_domain_for_typing() -> None:
    edges = _floor_edges(("type_checking",))
    unexpected = sorted(edges - set(ALLOWED_TYPE_CHECKING))
    assert not unexpected, f"the floor reaches up for typing: {unexpected}"
    stale = sorted(set(ALLOWED_TYPE_CHECKING) - edges)
    assert not stale, f"debt paid off, remove from ALLOWED_TYPE_CHECKING: {stale}"


def test_the_scan_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    """The checker itself: an import hidden in a function or a TYPE_CHECKING block is found."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "from watchparty.db import UnitOfWork\n"
        "if TYPE_CHECKING:\n"
        "    from watchparty.accounts.models import User\n"
        "def f():\n"
        "    from watchparty.parties import tasks\n"
        "    import watchparty.videos.tasks\n"
        "    from . import mail\n"
    )
    found = imports_of(probe, "watchparty.probe")
    assert "watchparty.db" in found["top"]
    assert "watchparty.accounts.models" in found["type_checking"]
    assert found["function"] == {
        "watchparty.parties.tasks",
        "watchparty.videos.tasks",
        "watchparty.mail",
    }
    assert "watchparty.accounts.models" not in found["top"] | found["function"]
