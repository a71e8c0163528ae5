"""Paging rules in plain Python: opaque keyset cursors and the page-size cap.

Cursors are keyset positions (the sort key of the last row seen), not offsets, so a page stays
stable while rows are added in front of it. They are opaque to clients: URL-safe base64 of a
small JSON list. A cursor that does not decode (or a negative `first`) is the client's mistake:
`PaginationError`. Services raise it; the GraphQL side (`gql.pagination`) turns it into an error
with code VALIDATION and holds the Relay `PageInfo` type.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PaginationError(ValueError):
    """Bad paging arguments from the client."""


def page_size(first: int | None, default: int = DEFAULT_PAGE_SIZE) -> int:
    """`first` clamped to 1..100 (a larger request gets 100); negative is an error."""
    if first is None:
        return default
    if first < 0:
        raise PaginationError("`first` must not be negative.")
    return min(first, MAX_PAGE_SIZE)


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The key list of `cursor` (None for no cursor); a malformed one raises PaginationError."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_cursor() from exc
    if not isinstance(key, list) or len(key) != arity:
        raise bad_cursor()
    return key


def bad_cursor() -> PaginationError:
    return PaginationError("`after` is not a cursor from this list.")


def time_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The cursor of a row in a (timestamp, id) order: newest first, or oldest first."""
    return encode_cursor(at.isoformat(), str(row_id))


def decode_time_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (timestamp, id) key of a `time_cursor` (None for no cursor); PaginationError when
    `cursor` is not one."""
    key = decode_cursor(cursor, 2)
    if key is None:
        return None
    try:
        return datetime.fromisoformat(key[0]), uuid.UUID(key[1])
    except (TypeError, ValueError) as exc:
        raise bad_cursor() from exc
