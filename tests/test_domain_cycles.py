"""Domains form a ladder: no cycle between domain packages.

A domain may import a domain below it (chat, polls, reactions, voice and videos are built on
parties, all of them on accounts), never one above: a cycle between two domains means neither
can be understood, tested or moved without the other. Where a lower domain must reach a higher
one it takes a registration from the composition root (`registry.py`, `schema.py`).

Read from the source with `ast` (no import runs). An edge is any import of another domain, at
the top of a module, inside a function or under `if TYPE_CHECKING:` alike (a typing-only import
still ties two packages together), and any `strawberry.lazy("watchparty.<domain>...")` type.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import watchparty

PACKAGE = Path(watchparty.__file__).parent

# The domain packages (written out, not derived at run time, so a new package is a decision:
# `test_every_subpackage_is_classified` asks for it).
DOMAINS = (
    "accounts",
    "analytics",
    "billing",
    "chat",
    "notifications",
    "parties",
    "polls",
    "reactions",
    "videos",
    "voice",
)
# Subpackages that are not domains: the shared floor (GraphQL plumbing, helpers, typed events,
# the realtime machinery), the party stream's GraphQL side (part of the composition root: it
# lists every domain's stream types), the REST shim and the static assets.
# `tests/test_layers.py` keeps the floor below every domain.
NOT_DOMAINS = ("events", "gql", "http", "kit", "party_stream", "realtime", "static")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not is_package:
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, node.module] if node.module else package)


def _is_lazy(node: ast.Call) -> bool:
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "lazy") or (
        isinstance(func, ast.Name) and func.id == "lazy"
    )


def references(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every watchparty module `source` names: imports at any depth (TYPE_CHECKING included;
    `from a import b` names `a.b`, which is enough to find the package) and lazy types."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and _is_lazy(node):
            names = [
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] == "watchparty")


def _domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in DOMAINS else None


def domain_edges() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(domain, other domain) -> the (module, what it names) that make the edge."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        source = _domain_of(module + ".x")  # a package's __init__ belongs to it too
        if source is None:
            continue
        text = path.read_text(encoding="utf-8")
        for target in references(text, module, path.name == "__init__.py"):
            other = _domain_of(target)
            if other is None or other == source:
                continue
            edges.setdefault((source, other), set()).add((module, target))
    return edges


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every edge that lies on a cycle, as one shortest cycle through it (a path back to its
    start), each cycle once."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def path(start: str, goal: str) -> list[str] | None:
        """A shortest path from `start` to `goal` (breadth first, names in order)."""
        seen, frontier = {start}, [[start]]
        while frontier:
            route = frontier.pop(0)
            if route[-1] == goal:
                return route
            for nxt in sorted(graph.get(route[-1], ())):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append([*route, nxt])
        return None

    found: dict[tuple[str, ...], list[str]] = {}
    for a, b in sorted(edges):
        back = path(b, a)
        if back is None:
            continue
        loop = [a, *back]
        ring = loop[:-1]
        first = ring.index(min(ring))
        canonical = [*ring[first:], *ring[:first]]
        found.setdefault(tuple(canonical), [*canonical, canonical[0]])
    return list(found.values())


def test_every_subpackage_is_classified() -> None:
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    subpackages |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert sorted(subpackages) == sorted(DOMAINS + NOT_DOMAINS), (
        "a new subpackage of watchparty: add it to DOMAINS or NOT_DOMAINS"
    )


def test_no_cycle_between_domains() -> None:
    edges = domain_edges()
    found = cycles(set(edges))
    report = []
    for loop in found:
        report.append(" -> ".join(loop))
        for a, b in itertools.pairwise(loop):
            modules = sorted({module for module, _ in edges[(a, b)]})
            more = f" (+{len(modules) - 3} more)" if len(modules) > 3 else ""
            report.append(f"    {a} -> {b}: {', '.join(modules[:3])}{more}")
    assert not found, "cycles between domains (take a registration instead):\n" + "\n".join(report)


def test_the_scan_sees_every_kind_of_reference() -> None:
    """The checker itself: function-level, TYPE_CHECKING, relative imports and lazy types."""
    source = (
        "from typing import TYPE_CHECKING, Annotated\n"
        "import strawberry\n"
        "from watchparty.db import UnitOfWork\n"
        "if TYPE_CHECKING:\n"
        "    from watchparty.chat.types import ChatMessage\n"
        "def f():\n"
        "    from watchparty.voice import service\n"
        "    import watchparty.videos.tasks\n"
        "    from ..polls import listing\n"
        "T = Annotated['R', strawberry.lazy('watchparty.reactions.types')]\n"
    )
    named = set(references(source, "watchparty.parties.probe"))
    assert {_domain_of(n) for n in named} - {None} == {
        "chat",
        "voice",
        "videos",
        "polls",
        "reactions",
    }
    assert "watchparty.polls.listing" in named


def test_the_cycle_finder_reports_a_path() -> None:
    edges = {("parties", "chat"), ("chat", "accounts"), ("chat", "parties"), ("voice", "parties")}
    assert cycles(edges) == [["chat", "parties", "chat"]]
    assert cycles({("chat", "parties"), ("voice", "parties")}) == []
    longer = {("parties", "voice"), ("voice", "chat"), ("chat", "parties"), ("polls", "parties")}
    longer |= {("parties", "polls")}
    assert cycles(longer) == [["chat", "parties", "voice", "chat"], ["parties", "polls", "parties"]]
