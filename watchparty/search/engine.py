"""Typesense: the client, the versioned collection schemas behind their aliases, and the
breaker that sends searches to the database fallback while Typesense does not answer.

Collections are `<prefix><name>_v<N>` (a reindex builds `<prefix><name>_v<N>_<timestamp>`)
behind the alias `<prefix><name>`; every read and write goes through the alias, so a reindex
swaps the alias and nothing else notices. The `typesense` client is synchronous (requests):
each call runs in a thread, with TYPESENSE_TIMEOUT_SECONDS and no retry of its own (the
outbox retries writes; searches fall back).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import typesense
from typesense.exceptions import ObjectNotFound, TypesenseClientError

from watchparty.config import Settings

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
NAMES = ("parties", "videos", "users")

# Shared by every document: `visibility` and `viewer_ids` carry the visibility rule in one
# filter (`search.visibility`), which a scoped key can embed for every collection alike.
_COMMON: list[dict[str, Any]] = [
    {"name": "type", "type": "string", "facet": True},
    {"name": "visibility", "type": "string", "facet": True},
    {"name": "viewer_ids", "type": "string[]"},
    {"name": "created_at", "type": "int64"},
]
FIELDS: dict[str, list[dict[str, Any]]] = {
    "parties": [
        {"name": "title", "type": "string"},
        {"name": "description", "type": "string", "optional": True},
        {"name": "host_name", "type": "string"},
        {"name": "host_id", "type": "string"},
        {"name": "status", "type": "string", "facet": True},
        {"name": "member_count", "type": "int32"},
        {"name": "online_count", "type": "int32"},
        {"name": "scheduled_start", "type": "int64"},
        *_COMMON,
    ],
    "videos": [
        {"name": "title", "type": "string"},
        {"name": "description", "type": "string", "optional": True},
        {"name": "owner_name", "type": "string"},
        {"name": "owner_id", "type": "string"},
        {"name": "duration_seconds", "type": "float"},
        {"name": "duration_range", "type": "string", "facet": True},
        {"name": "provider", "type": "string", "facet": True},
        *_COMMON,
    ],
    "users": [
        {"name": "display_name", "type": "string"},
        *_COMMON,
    ],
}
QUERY_BY = {
    "parties": "title,description,host_name",
    "videos": "title,description,owner_name",
    "users": "display_name",
}


class SearchUnavailable(Exception):
    """Typesense did not answer (or is skipped while it recovers)."""


def alias_name(settings: Settings, name: str) -> str:
    return f"{settings.typesense_collection_prefix}{name}"


def versioned_name(settings: Settings, name: str, suffix: str = "") -> str:
    return f"{alias_name(settings, name)}_v{SCHEMA_VERSION}{suffix}"


def schema(collection: str, name: str) -> dict[str, Any]:
    return {"name": collection, "fields": FIELDS[name], "default_sorting_field": "created_at"}


def search_only_key_value(settings: Settings) -> str:
    """The parent of scoped keys: a search-only key whose value derives from the admin key, so
    every process knows it without storing it (created once, `ensure_collections`)."""
    return hmac.new(
        settings.typesense_api_key.encode(), b"watchparty-search-only", hashlib.sha256
    ).hexdigest()


class Engine:
    """One Typesense client per process (`engine_of(state)`), with a breaker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # typed Any: the client's TypedDicts do not fit documents built at run time
        self.client: Any = typesense.Client(
            {
                "api_key": settings.typesense_api_key,
                "nodes": [settings.typesense_url.rstrip("/")],
                "connection_timeout_seconds": settings.typesense_timeout_seconds,
                "num_retries": 0,
                "retry_interval_seconds": 0.0,
            }
        )
        self._open_until = 0.0
        self.failures = 0  # consecutive (backoff of the indexer, status)
        self.ready = False  # collections and aliases checked by this process

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    async def call(self, function: Callable[[], Any]) -> Any:
        """Run one client call in a thread; SearchUnavailable when Typesense is skipped, down,
        frozen (timeout) or answers 5xx. 4xx errors (a bug of ours) are raised as they are."""
        if self.is_open:
            raise SearchUnavailable("typesense skipped while it recovers")
        try:
            result = await asyncio.to_thread(function)
        except ObjectNotFound:
            raise
        except (TypesenseClientError, OSError, ConnectionError) as exc:
            if _is_client_mistake(exc):
                raise
            self.failures += 1
            cooldown = min(
                self.settings.typesense_cooldown_seconds * 2 ** min(self.failures - 1, 4), 60.0
            )
            self._open_until = time.monotonic() + cooldown
            log.warning("typesense unavailable", extra={"error": repr(exc)})
            raise SearchUnavailable(str(exc)) from exc
        except Exception as exc:  # requests' own errors (timeouts) are not OSError subclasses
            self.failures += 1
            self._open_until = time.monotonic() + self.settings.typesense_cooldown_seconds
            log.warning("typesense unavailable", extra={"error": repr(exc)})
            raise SearchUnavailable(str(exc)) from exc
        self.failures = 0
        self._open_until = 0.0
        return result

    async def ensure_collections(self) -> None:
        """Create the versioned collections and their aliases when missing, and the search-only
        parent key of scoped keys (idempotent)."""
        if self.ready:
            return
        for name in NAMES:
            alias = alias_name(self.settings, name)
            try:
                await self.call(self.client.aliases[alias].retrieve)
            except ObjectNotFound:
                collection = versioned_name(self.settings, name)
                try:
                    await self.call(self.client.collections[collection].retrieve)
                except ObjectNotFound:
                    await self.call(
                        partial(self.client.collections.create, schema(collection, name))
                    )
                await self.call(
                    partial(self.client.aliases.upsert, alias, {"collection_name": collection})
                )
        await self._ensure_search_key()
        self.ready = True

    async def _ensure_search_key(self) -> None:
        value = search_only_key_value(self.settings)
        keys = await self.call(self.client.keys.retrieve)
        prefix = value[:4]
        for key in keys.get("keys", []):
            if key.get("value_prefix") == prefix and key.get("description") == self._key_name():
                return
        await self.call(
            lambda: self.client.keys.create(
                {
                    "description": self._key_name(),
                    "actions": ["documents:search"],
                    "collections": [f"{self.settings.typesense_collection_prefix}.*"],
                    "value": value,
                }
            )
        )

    def _key_name(self) -> str:
        return f"watchparty search-only {self.settings.typesense_collection_prefix}"


def _is_client_mistake(exc: Exception) -> bool:
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status != 408


def engine_of(state: AppState) -> Engine | None:
    """The process's engine, or None when Typesense is not configured."""
    if not state.settings.typesense_enabled:
        return None
    engine = state.extras.get("search_engine")
    if engine is None:
        engine = state.extras["search_engine"] = Engine(state.settings)
    assert isinstance(engine, Engine)
    return engine
