"""`watchparty search ...`: operating the index.

- `reindex`: rebuild every collection from the tables into `<alias>_v<N>_<timestamp>`, swap the
  aliases, drop the old collections (searches keep answering from the old ones meanwhile).
- `status`: the backend, the outbox (depth, age of the oldest row), rows that should be indexed
  and, with Typesense, each alias's collection and document count (JSON).
- `drain`: index what the outbox names now, in this process (no worker needed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from watchparty.config import load_settings
from watchparty.errors import ValidationProblem


async def _command(name: str) -> int:
    from watchparty.search import indexing
    from watchparty.search.engine import SearchUnavailable, engine_of
    from watchparty.state import build_state

    async with build_state(load_settings(), functions={}, periodics=[]) as state:
        if name == "status":
            print(json.dumps(await indexing.status(state), indent=2))
            return 0
        if name == "drain":
            print(f"indexed {await indexing.drain_all(state)} outbox rows")
            return 0
        engine = engine_of(state)
        if engine is None:
            raise ValidationProblem("TYPESENSE_URL is not set: search runs on the database.")
        try:
            new = await indexing.reindex(state, engine)
        except SearchUnavailable as exc:
            raise ValidationProblem(f"Typesense does not answer: {exc}") from None
        for alias, collection in new.items():
            print(f"{alias} -> {collection}")
        return 0


def _run(name: str) -> Any:
    def run(_args: argparse.Namespace) -> int:
        return asyncio.run(_command(name))

    return run


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `search` command group (the composition root's `cli.py` calls this)."""
    search = sub.add_parser("search", help="the search index: reindex, status, drain")
    commands = search.add_subparsers(dest="search_command", required=True)
    commands.add_parser(
        "reindex", help="rebuild into new collections and swap the aliases (zero downtime)"
    ).set_defaults(run=_run("reindex"))
    commands.add_parser("status", help="backend, outbox and collections (JSON)").set_defaults(
        run=_run("status")
    )
    commands.add_parser("drain", help="index what the outbox names, now").set_defaults(
        run=_run("drain")
    )
