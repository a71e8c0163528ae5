"""`watchparty serve` with wall-clock spans per GraphQL HTTP request, for `publish.py --trace`.

    python bench/trace_server.py serve --port N

Wraps (monkeypatching, nothing in the package changes) the sign-in check, the playback and chat
services' steps, the unit of work's commit and every SQL statement, and prints one JSON line per
request to stderr: {"total": ms, "spans": [[name, start ms, duration ms], ...]}. cProfile splits
coroutines at every await and hides the waits; these are the wall-clock times the client sees,
other tasks on the loop (the fan-out of the previous event) included.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import json
import sys
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

SPANS: contextvars.ContextVar[list[tuple[str, float, float]] | None] = contextvars.ContextVar(
    "spans", default=None
)
WRAPPED = {
    "watchparty.gql.view": ["signed_in_user"],
    "watchparty.parties.playback": [
        "load_controllable",
        "party_lead_ms",
        "load_queue",
        "_store",
        "current_payload",
        "record",
    ],
    "watchparty.parties.playback_resolvers": ["_control"],
    "watchparty.chat.service": [
        "load_party",
        "check_can_post",
        "_next_seq",
        "payloads_for",
        "record",
        "notify_message",
        "send_message",
    ],
    "watchparty.db": ["UnitOfWork.commit"],
    "sqlalchemy.ext.asyncio.session": ["AsyncSession.commit", "AsyncSession.close"],
    "watchparty.tracking": ["emit"],
}


def _add(name: str, start: float) -> None:
    spans = SPANS.get()
    if spans is not None:
        spans.append((name, start, time.perf_counter() - start))


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    conn.info.setdefault("trace_started", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    _add("sql " + " ".join(statement.split())[:50], conn.info["trace_started"].pop())


def _wrap(module_name: str, dotted: str) -> None:
    owner: Any = importlib.import_module(module_name)
    attribute = dotted
    if "." in dotted:
        class_name, attribute = dotted.split(".")
        owner = getattr(owner, class_name)
    original = getattr(owner, attribute)
    label = f"{module_name.rsplit('.', 1)[-1]}.{dotted}"

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            _add(label, started)

    setattr(owner, attribute, wrapper)


def install() -> None:
    import watchparty.app as app

    original = app.GraphQLEndpoint.__call__

    async def call(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await original(self, scope, receive, send)
            return
        spans: list[tuple[str, float, float]] = []
        token = SPANS.set(spans)
        started = time.perf_counter()
        try:
            await original(self, scope, receive, send)
        finally:
            total = time.perf_counter() - started
            SPANS.reset(token)
            line = {
                "total": total * 1000,
                "spans": [(n, (s - started) * 1000, d * 1000) for n, s, d in spans],
            }
            print(json.dumps(line), file=sys.stderr, flush=True)

    app.GraphQLEndpoint.__call__ = call  # type: ignore[method-assign]
    for module_name, names in WRAPPED.items():
        for name in names:
            _wrap(module_name, name)


if __name__ == "__main__":
    install()
    from watchparty.cli import main

    sys.exit(main(sys.argv[1:]))
