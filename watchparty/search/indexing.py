"""Keeps Typesense in step with the database: the outbox drain, the sweep, reindex and status.

- `drain_search_outbox` (every 5 s, and whenever a test or operator calls it): takes the oldest
  outbox rows (at most OUTBOX_BATCH), reads the named rows' current state, imports the documents
  in one `documents.import_(action="upsert")` per collection and deletes the gone ones, and only
  then deletes those outbox rows. Typesense down or frozen: the rows stay (nothing is lost), the
  engine's breaker backs off (5 s doubling to 60 s), the next run retries; caught up when it
  returns. Without Typesense configured the rows are simply deleted (the database fallback reads
  the tables themselves).
- `sweep_search_index` (every 30 s): rows whose `updated_at` moved since the last sweep (bulk
  statements the outbox listener could not attribute), and the online counts of LIVE parties,
  refreshed only where they changed (presence heartbeats never reindex anything by themselves).
- `reindex` (CLI): builds `<alias>_v<N>_<timestamp>` collections from the tables, swaps the
  aliases, drops the old collections; searches keep answering from the old ones meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from typesense.exceptions import ObjectNotFound

from watchparty.accounts.models import User
from watchparty.kit.time import utcnow
from watchparty.parties.models import Party, PartyStatus, PartyVisibility
from watchparty.search import documents
from watchparty.search.engine import (
    NAMES,
    Engine,
    SearchUnavailable,
    alias_name,
    engine_of,
    schema,
    versioned_name,
)
from watchparty.search.models import Entity, SearchOutbox
from watchparty.videos.models import Video

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

OUTBOX_BATCH = 500
REINDEX_BATCH = 500
LIVE_PARTIES_SWEPT = 1000
COLLECTION_OF = {Entity.PARTY: "parties", Entity.VIDEO: "videos", Entity.USER: "users"}


async def _apply(engine: Engine, batch: documents.Batch, collections: dict[str, str]) -> None:
    """Upserts then deletes; raises SearchUnavailable (not acknowledged: the outbox rows stay).
    A document Typesense refuses (a 4xx for that document: a bug of ours, it would be refused
    again) is logged and not retried: it must not block the outbox behind it; a reindex after
    the fix brings it in."""
    for name in NAMES:
        target = collections[name]
        docs = batch.upserts[name]
        if docs:
            results = await engine.call(
                partial(
                    engine.client.collections[target].documents.import_, docs, {"action": "upsert"}
                )
            )
            failed = [r for r in results if not r.get("success")]
            if failed:
                log.error(
                    "typesense refused documents",
                    extra={"collection": target, "refused": json.dumps(failed[:3])[:2000]},
                )
        owner_field = {"parties": "host_id", "videos": "owner_id"}.get(name)
        if owner_field and batch.deleted_users:
            owners = ",".join(f"`{u}`" for u in batch.deleted_users)
            await engine.call(
                partial(
                    engine.client.collections[target].documents.delete,
                    {"filter_by": f"{owner_field}:=[{owners}]"},
                )
            )
        for doc_id in batch.gone[name]:
            with contextlib.suppress(ObjectNotFound):  # never indexed, or deleted already
                await engine.call(engine.client.collections[target].documents[doc_id].delete)


def _aliases(engine: Engine) -> dict[str, str]:
    return {name: alias_name(engine.settings, name) for name in NAMES}


async def drain(state: AppState, *, limit: int = OUTBOX_BATCH) -> int:
    """Index one batch of the outbox; the number of outbox rows done (0: empty, or Typesense
    unavailable: the rows stay)."""
    engine = engine_of(state)
    async with state.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(SearchOutbox)
                .order_by(SearchOutbox.id)
                .limit(limit)
                # two workers draining at once take different rows (PostgreSQL; SQLite has one
                # writer anyway)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return 0
        row_ids = [row.id for row in rows]
        if engine is not None:
            entities: dict[Entity, set[uuid.UUID]] = defaultdict(set)
            for row in rows:
                entities[Entity(row.entity)].add(row.entity_id)
            batch = await documents.build(session, state, entities)
            try:
                await engine.ensure_collections()
                await _apply(engine, batch, _aliases(engine))
            except SearchUnavailable:
                return 0
            except ObjectNotFound:  # a collection or alias removed by hand: recreate, retry
                engine.ready = False
                return 0
        await session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(row_ids)))
        await session.commit()
    return len(row_ids)


async def drain_all(state: AppState, *, max_batches: int = 20) -> int:
    done = 0
    for _ in range(max_batches):
        count = await drain(state)
        done += count
        if count < OUTBOX_BATCH:
            break
    return done


async def drain_search_outbox(ctx: dict[str, Any]) -> int:
    """Job: index what the outbox names (see the module's docstring)."""
    state: AppState = ctx["state"]
    return await drain_all(state)


async def index_changed_since(state: AppState, engine: Engine, since: datetime) -> None:
    async with state.sessionmaker() as session:
        entities: dict[Entity, set[uuid.UUID]] = {
            Entity.PARTY: set(
                await session.scalars(
                    select(Party.id).where(Party.updated_at >= since).limit(OUTBOX_BATCH)
                )
            ),
            Entity.VIDEO: set(
                await session.scalars(
                    select(Video.id).where(Video.updated_at >= since).limit(OUTBOX_BATCH)
                )
            ),
            Entity.USER: set(
                await session.scalars(
                    select(User.id).where(User.updated_at >= since).limit(OUTBOX_BATCH)
                )
            ),
        }
        batch = await documents.build(session, state, entities)
    await _apply(engine, batch, _aliases(engine))


async def refresh_online_counts(state: AppState, engine: Engine) -> int:
    """Coalesced online counts: one presence read for the LIVE parties, one partial update of
    the documents whose count changed since this process last sent it."""
    async with state.sessionmaker() as session:
        live = list(
            await session.scalars(
                select(Party.id)
                .where(
                    Party.status == PartyStatus.LIVE,
                    Party.deleted_at.is_(None),
                    Party.visibility != PartyVisibility.UNLISTED,  # no document
                )
                .limit(LIVE_PARTIES_SWEPT)
            )
        )
    counts = await documents.online_counts(state, live)
    sent: dict[uuid.UUID, int] = state.extras.setdefault("search_online_sent", {})
    still_live = set(live)
    for party_id in [p for p in sent if p not in still_live]:  # bounded by the live parties
        del sent[party_id]
    changed: list[dict[str, Any]] = [
        {"id": str(pid), "online_count": counts.get(pid, 0)}
        for pid in live
        if sent.get(pid) != counts.get(pid, 0)
    ]
    if not changed:
        return 0
    target = alias_name(engine.settings, "parties")
    results = await engine.call(
        lambda: engine.client.collections[target].documents.import_(changed, {"action": "update"})
    )
    for doc, result in zip(changed, results, strict=False):
        # a party not indexed yet fails here: its upsert will carry the count, do not resend
        if result.get("success") or result.get("code") == 404:
            sent[uuid.UUID(doc["id"])] = int(doc["online_count"])
    return len(changed)


async def sweep(state: AppState) -> None:
    engine = engine_of(state)
    if engine is None:
        await drain_all(state)
        return
    now = utcnow()
    since = state.extras.get("search_swept_at") or now - timedelta(minutes=2)
    try:
        await drain_all(state)
        await engine.ensure_collections()
        await index_changed_since(state, engine, since - timedelta(seconds=5))
        await refresh_online_counts(state, engine)
    except SearchUnavailable:
        return
    state.extras["search_swept_at"] = now


async def sweep_search_index(ctx: dict[str, Any]) -> None:
    """Job: the periodic sweep (see the module's docstring)."""
    await sweep(ctx["state"])


# -- operations (CLI) --------------------------------------------------------------------------


async def _all_ids(state: AppState, model: Any, after: uuid.UUID | None) -> list[uuid.UUID]:
    async with state.sessionmaker() as session:
        query = select(model.id).order_by(model.id).limit(REINDEX_BATCH)
        if after is not None:
            query = query.where(model.id > after)
        return list(await session.scalars(query))


async def reindex(state: AppState, engine: Engine, *, suffix: str | None = None) -> dict[str, str]:
    """Rebuild every collection under a new name, swap the aliases, drop the old collections.
    Returns the new collection of each alias, by alias."""
    suffix = suffix or "_" + utcnow().strftime("%Y%m%d%H%M%S")
    started = utcnow()
    await engine.ensure_collections()
    new = {name: versioned_name(engine.settings, name, suffix) for name in NAMES}
    for name, collection in new.items():
        await engine.call(partial(engine.client.collections.create, schema(collection, name)))
    for entity, model in ((Entity.PARTY, Party), (Entity.VIDEO, Video), (Entity.USER, User)):
        after: uuid.UUID | None = None
        while True:
            ids = await _all_ids(state, model, after)
            if not ids:
                break
            async with state.sessionmaker() as session:
                batch = await documents.build(session, state, {entity: set(ids)})
            batch.gone = {name: [] for name in NAMES}  # nothing to delete in a new collection
            batch.deleted_users = []
            await _apply(engine, batch, new)
            after = ids[-1]
    old: dict[str, str] = {}
    for name, collection in new.items():
        alias = alias_name(engine.settings, name)
        try:
            current = await engine.call(engine.client.aliases[alias].retrieve)
            old[name] = current["collection_name"]
        except ObjectNotFound:
            pass
        await engine.call(
            partial(engine.client.aliases.upsert, alias, {"collection_name": collection})
        )
    for collection in old.values():
        if collection not in new.values():
            await engine.call(engine.client.collections[collection].delete)
    # what changed during the rebuild went to the old collections: apply it again
    await index_changed_since(state, engine, started - timedelta(seconds=5))
    return {alias_name(engine.settings, name): collection for name, collection in new.items()}


async def status(state: AppState) -> dict[str, Any]:
    async with state.sessionmaker() as session:
        depth = await session.scalar(select(func.count()).select_from(SearchOutbox))
        oldest = await session.scalar(select(func.min(SearchOutbox.enqueued_at)))
        rows = await documents.count_rows(session)
    report: dict[str, Any] = {
        "backend": "typesense" if state.settings.typesense_enabled else "database",
        "outbox_depth": int(depth or 0),
        "outbox_oldest_seconds": (
            None if oldest is None else round((utcnow() - oldest).total_seconds(), 1)
        ),
        "rows": rows,
    }
    engine = engine_of(state)
    if engine is not None:
        collections: dict[str, Any] = {}
        try:
            for name in NAMES:
                alias = alias_name(engine.settings, name)
                target = (await engine.call(engine.client.aliases[alias].retrieve))[
                    "collection_name"
                ]
                info = await engine.call(engine.client.collections[target].retrieve)
                collections[alias] = {"collection": target, "documents": info["num_documents"]}
            report["typesense"] = {"healthy": True, "collections": collections}
        except (SearchUnavailable, ObjectNotFound) as exc:
            report["typesense"] = {"healthy": False, "error": str(exc)[:200]}
    return report
