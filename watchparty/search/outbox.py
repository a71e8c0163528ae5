"""Writes the search outbox in the transaction of the change, for every domain at once.

One `before_flush` listener on SQLAlchemy's Session class (registered once, `register()`, from
the composition root) looks at the new, changed and deleted Party, PartyMember, Video and User
objects of the flush and adds a `SearchOutbox` row for each indexed entity whose indexed fields
changed: the row commits or rolls back with the change itself, so the index can never miss a
committed change nor show a rolled-back one. A `do_orm_execute` listener does the same for bulk
`UPDATE` and `DELETE` statements on those tables whose WHERE names the row (`Video.id == :id`;
`deleteAccount` deletes its user so); any other bulk update is caught by the periodic sweep
(rows whose `updated_at` moved, `indexing.py`). A deleted user's videos and parties go with the
cascade in the database, and by their `owner_id` / `host_id` in the index.

Playback writes (the timeline columns), heartbeats and drift reports touch no indexed field and
add nothing: presence-driven online counts are refreshed, coalesced, by the sweep.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ClauseElement

from watchparty.accounts.models import User
from watchparty.parties.models import Party, PartyMember
from watchparty.search.models import Entity, SearchOutbox
from watchparty.videos.models import Video

PARTY_FIELDS = frozenset(
    {"title", "description", "status", "visibility", "scheduled_start", "deleted_at", "host_id"}
)
MEMBER_FIELDS = frozenset({"status", "role"})
VIDEO_FIELDS = frozenset(
    {"title", "description", "status", "visibility", "duration_seconds", "provider", "deleted_at"}
)
USER_FIELDS = frozenset({"display_name", "avatar_url", "searchable", "is_active"})

_TABLES: dict[str, tuple[Entity, frozenset[str]]] = {
    "parties": (Entity.PARTY, PARTY_FIELDS),
    "videos": (Entity.VIDEO, VIDEO_FIELDS),
    "users": (Entity.USER, USER_FIELDS),
}

_registered = False


def _changed(obj: object, fields: frozenset[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _entities(session: Session) -> set[tuple[Entity, uuid.UUID, str]]:
    found: set[tuple[Entity, uuid.UUID, str]] = set()
    for obj in session.new:
        if isinstance(obj, Party | Video | User) and obj.id is None:
            obj.id = uuid.uuid4()  # the column default, given now so the outbox row can name it
        if isinstance(obj, Party):
            found.add((Entity.PARTY, obj.id, "upsert"))
        elif isinstance(obj, PartyMember) and obj.party_id is not None:
            found.add((Entity.PARTY, obj.party_id, "upsert"))
        elif isinstance(obj, Video):
            found.add((Entity.VIDEO, obj.id, "upsert"))
        elif isinstance(obj, User):
            found.add((Entity.USER, obj.id, "upsert"))
    for obj in session.dirty:
        if isinstance(obj, Party) and _changed(obj, PARTY_FIELDS):
            found.add((Entity.PARTY, obj.id, "upsert"))
        elif isinstance(obj, PartyMember) and _changed(obj, MEMBER_FIELDS):
            found.add((Entity.PARTY, obj.party_id, "upsert"))
        elif isinstance(obj, Video) and _changed(obj, VIDEO_FIELDS):
            found.add((Entity.VIDEO, obj.id, "upsert"))
        elif isinstance(obj, User) and _changed(obj, USER_FIELDS):
            found.add((Entity.USER, obj.id, "upsert"))
    for obj in session.deleted:
        if isinstance(obj, Party):
            found.add((Entity.PARTY, obj.id, "delete"))
        elif isinstance(obj, PartyMember):
            found.add((Entity.PARTY, obj.party_id, "upsert"))
        elif isinstance(obj, Video):
            found.add((Entity.VIDEO, obj.id, "delete"))
        elif isinstance(obj, User):
            found.add((Entity.USER, obj.id, "delete"))
    return found


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for entity, entity_id, op in sorted(_entities(session), key=str):
        session.add(SearchOutbox(entity=entity.value, entity_id=entity_id, op=op))


def _row_id(clause: ClauseElement | None, table_name: str) -> uuid.UUID | None:
    """The id a WHERE pins with `<table>.id == value` (at the top or inside an AND)."""
    if clause is None:
        return None
    if isinstance(clause, BinaryExpression) and clause.operator is operators.eq:
        left, right = clause.left, clause.right
        table = getattr(left, "table", None)
        same = getattr(left, "key", None) == "id" and getattr(table, "name", None) == table_name
        if same and isinstance(right, BindParameter):
            value = right.effective_value
            return value if isinstance(value, uuid.UUID) else None
        return None
    for child in clause.get_children():
        if isinstance(child, ClauseElement):
            found = _row_id(child, table_name)
            if found is not None:
                return found
    return None


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    statement: Any = state.statement
    table = getattr(statement, "table", None)
    target = _TABLES.get(getattr(table, "name", ""))
    if target is None:
        return
    entity, fields = target
    if state.is_update:
        values = {getattr(key, "key", key) for key in getattr(statement, "_values", None) or {}}
        if not values & fields:
            return
    row_id = _row_id(statement.whereclause, table.name)  # type: ignore[union-attr]
    if row_id is not None:  # otherwise: the sweep (updated_at) picks it up
        op = "delete" if state.is_delete else "upsert"
        state.session.add(SearchOutbox(entity=entity.value, entity_id=row_id, op=op))


def register() -> None:
    """Listen on every session of the process (idempotent)."""
    global _registered
    if _registered:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    _registered = True
