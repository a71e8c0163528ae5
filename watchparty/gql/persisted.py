"""Automatic persisted queries (Apollo's and urql's `extensions.persistedQuery` convention).

A client sends `{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": <hex>}}}` without
the query; a known hash runs its stored document, an unknown one answers `PersistedQueryNotFound`
(message and `extensions.code` PERSISTED_QUERY_NOT_FOUND, what the clients look for), and the
client sends the query once more with its hash, which stores it. A hash that is not the query's
SHA-256 is refused (400), so one client cannot plant a document under another's hash.

The store is shared by every API process through Redis (one key per hash, expiring
APQ_TTL_SECONDS after its last use; a document larger than APQ_MAX_DOCUMENT_BYTES is not kept),
or a bounded in-process LRU (APQ_MAX_ENTRIES) in the embedded mode. Redis being unavailable
reads as "not found": the client falls back to sending the query, nothing fails.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from typing import Any, Protocol

from redis.asyncio import Redis

from watchparty.kit.redis_guard import UNAVAILABLE
from watchparty.state import AppState

log = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
MISMATCH_MESSAGE = "provided sha does not match query"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryProblem(ValueError):
    """A request that does not run: its answer's HTTP status and `extensions.code`."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _not_found() -> PersistedQueryProblem:
    # 200, as Apollo Server answers: clients retry with the query and its hash.
    return PersistedQueryProblem(200, NOT_FOUND_MESSAGE, NOT_FOUND_CODE)


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The hash a request names, None without the extension; a 400 when it is malformed or
    another version."""
    if not extensions or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryProblem(
            400, "Only persistedQuery version 1 is supported.", "BAD_REQUEST"
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
        raise PersistedQueryProblem(
            400, "persistedQuery.sha256Hash must be 64 hexadecimal characters.", "BAD_REQUEST"
        )
    return digest.lower()


def document_hash(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedStore(Protocol):
    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class MemoryStore:
    """Bounded LRU for one process (embedded mode)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self._entries.get(digest)
        if query is not None:
            self._entries.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._entries[digest] = query
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisStore:
    """Shared by every process; each entry lives `ttl_seconds` after its last use."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}apq:"
        self.ttl_seconds = ttl_seconds

    async def get(self, digest: str) -> str | None:
        try:
            value = await self.redis.getex(self.prefix + digest, ex=self.ttl_seconds)
        except UNAVAILABLE:
            log.warning("persisted query lookup skipped: redis unavailable")
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, digest: str, query: str) -> None:
        try:
            await self.redis.set(self.prefix + digest, query, ex=self.ttl_seconds)
        except UNAVAILABLE:
            log.warning("persisted query not stored: redis unavailable")


class PersistedQueries:
    """Which document a request runs. With `trusted` (TRUSTED_DOCUMENTS_FILE's {hash: document})
    only those run, by hash or by their exact text; otherwise `store` learns documents."""

    def __init__(
        self, store: PersistedStore, max_document_bytes: int, trusted: dict[str, str] | None
    ) -> None:
        self.store = store
        self.max_document_bytes = max_document_bytes
        self.trusted = trusted

    async def document(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document to run (None: no query at all, the usual 400); PersistedQueryProblem
        for an unknown hash, a hash that is not the query's, or (trusted mode) another query."""
        digest = requested_hash(extensions)
        if digest is not None and query is not None and document_hash(query) != digest:
            raise PersistedQueryProblem(400, MISMATCH_MESSAGE, "BAD_REQUEST")
        if self.trusted is not None:
            return self._trusted(query, digest)
        if digest is None:
            return query
        if query is None:
            query = await self.store.get(digest)
            if query is None:
                raise _not_found()
        elif len(query.encode()) <= self.max_document_bytes:
            await self.store.put(digest, query)
        return query

    def _trusted(self, query: str | None, digest: str | None) -> str | None:
        assert self.trusted is not None
        digest = digest or (None if query is None else document_hash(query))
        if digest is None:
            return None
        document = self.trusted.get(digest)
        if document is None:
            if query is None:
                raise _not_found()
            raise PersistedQueryProblem(
                400,
                "Only the frontend's registered operations run on this server.",
                "PERSISTED_QUERY_NOT_ALLOWED",
            )
        return document


def persisted_queries(state: AppState) -> PersistedQueries:
    """Redis when configured (shared by every process), else this process's bounded LRU."""
    settings = state.settings
    store: PersistedStore = MemoryStore(settings.apq_max_entries)
    if state.redis is not None:
        store = RedisStore(state.redis, settings.redis_key_prefix, settings.apq_ttl_seconds)
    return PersistedQueries(store, settings.apq_max_document_bytes, settings.trusted_documents)
