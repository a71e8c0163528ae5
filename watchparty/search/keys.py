"""Scoped search-only keys: the frontend's InstantSearch queries Typesense directly with one.

A key is derived (HMAC, no call to Typesense) from the search-only parent key
(`engine.search_only_key_value`, allowed `documents:search` on this deployment's collections
only) with embedded parameters Typesense enforces and a client cannot override: the viewer's
visibility filter (`query.visibility_filter`) and an expiry. A viewer who loses access (banned,
party made private) keeps a key that still filters by `viewer_ids`, which the indexer updates:
access ends within one indexing cycle, and the key itself within SEARCH_KEY_TTL_SECONDS.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from watchparty.config import Settings
from watchparty.search.engine import Engine, alias_name, search_only_key_value
from watchparty.search.query import visibility_filter


@dataclass(frozen=True)
class ScopedKey:
    key: str
    expires_at: int
    filter_by: str
    collections: dict[str, str]


def scoped_key(engine: Engine, settings: Settings, viewer_id: uuid.UUID | None) -> ScopedKey:
    expires_at = int(time.time()) + settings.search_key_ttl_seconds
    filter_by = visibility_filter(viewer_id)
    key = engine.client.keys.generate_scoped_search_key(
        search_only_key_value(settings), {"filter_by": filter_by, "expires_at": expires_at}
    )
    return ScopedKey(
        key=key.decode() if isinstance(key, bytes) else str(key),
        expires_at=expires_at,
        filter_by=filter_by,
        collections={n: alias_name(settings, n) for n in ("parties", "videos", "users")},
    )
