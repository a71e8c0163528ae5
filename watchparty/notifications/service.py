"""The notification feed's rules: producing (with collapsing), reading and marking. No GraphQL.

- `notify` is what producers call, in their own unit of work (the rows and the per-user events
  commit with the change that caused them). Recipients are written in batches of
  `NOTIFY_BATCH`: one multi-row INSERT ... ON CONFLICT DO NOTHING per batch against the
  partial unique index of unread groups, then, for the recipients whose unread entry of that
  group already exists, one locked SELECT and one UPDATE (executemany) that grow them. A row
  read between the two (its group freed) is retried as an insert. The actor is never notified
  of their own action; recipients whose account is gone are skipped.
- Push: each batch's rows are handed to `notifications.push` (one job per batch, after the
  commit, only when push is configured).
- Counts: `unread` (read_at null) and `unseen` (neither seen nor read: the badge; a collapsed
  entry that grows is unseen again). Expired entries are never listed nor counted.
- Another user's notification is `NotFound`, the same answer as a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.db import UnitOfWork, upsert_insert
from watchparty.errors import NotFound, ValidationProblem
from watchparty.events import Event, record, record_many
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.pagination import (
    PaginationError,
    decode_time_cursor,
    page_size,
    time_cursor,
)
from watchparty.kit.time import utcnow
from watchparty.notifications import preferences
from watchparty.notifications.email import EMAIL_JOB
from watchparty.notifications.events import (
    NotificationAdded,
    NotificationsDeleted,
    NotificationsRead,
    NotificationUpdated,
    UnreadCountChanged,
    user_channel,
)
from watchparty.notifications.models import (
    RECENT_ACTORS,
    EmailFrequency,
    Notification,
    NotificationKind,
    SubjectType,
)
from watchparty.notifications.payloads import notification_payload
from watchparty.notifications.preferences import Channel
from watchparty.notifications.push import enqueue_push
from watchparty.notifications.render import render, retention

NOTIFY_BATCH = 500
MAX_IDS = 100
_UNREAD_GROUP = text("read_at IS NULL AND group_key IS NOT NULL")  # the partial index's WHERE


@dataclass(frozen=True, slots=True)
class Subject:
    type: SubjectType
    id: str


@dataclass(frozen=True, slots=True)
class Counts:
    unread: int
    unseen: int


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Notification]
    cursors: list[str]
    has_next: bool
    total: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    ids: list[str]
    all: bool
    counts: Counts


# -- producing ----------------------------------------------------------------------------------


async def notify(
    uow: UnitOfWork,
    recipient_ids: Iterable[uuid.UUID],
    kind: NotificationKind,
    *,
    actor_id: uuid.UUID | None = None,
    subject: Subject | None = None,
    data: Mapping[str, Any] | None = None,
    group_key: str | None = None,
    expires_in: timedelta | None = None,
) -> list[Notification]:
    """Create (or, with `group_key`, grow) one entry per recipient and tell their streams.
    Returns the rows written, new and grown. `expires_in` replaces the kind's retention."""
    values = dict(data or {})
    actor_name: str | None = None
    if actor_id is not None:
        actor_name = await uow.session.scalar(select(User.display_name).where(User.id == actor_id))
    recipients = [r for r in dict.fromkeys(recipient_ids) if r != actor_id]
    written: list[Notification] = []
    for start in range(0, len(recipients), NOTIFY_BATCH):
        batch = recipients[start : start + NOTIFY_BATCH]
        rows = await _notify_batch(
            uow, batch, kind, actor_id, actor_name, subject, values, group_key, expires_in
        )
        enqueue_push(uow, rows)  # one push job per batch, after the commit (when configured)
        written += rows
    return written


async def _notify_batch(
    uow: UnitOfWork,
    batch: list[uuid.UUID],
    kind: NotificationKind,
    actor_id: uuid.UUID | None,
    actor_name: str | None,
    subject: Subject | None,
    data: dict[str, Any],
    group_key: str | None,
    expires_in: timedelta | None = None,
) -> list[Notification]:
    session = uow.session
    now = utcnow()
    expires_at = now + (retention(kind) if expires_in is None else expires_in)
    # Recipients whose account is gone meanwhile are skipped (their row would fail the batch).
    existing_users = set(await session.scalars(select(User.id).where(User.id.in_(batch))))
    settings = await preferences.load_many(session, [r for r in batch if r in existing_users])
    # Who gets it where: no row for a recipient who turned every channel of the group off; a
    # row outside the feed (in_app false) for one who only wants it pushed or mailed.
    plans = {r: _plan(settings[r], kind, now) for r in batch if r in existing_users}
    batch = [r for r in batch if r in plans and plans[r].wanted]
    added: list[Notification] = []
    grown: list[Notification] = []
    pending = batch
    for _ in range(3):  # a group read between the insert and the select is inserted again
        rows = [
            _new_row(
                r, kind, actor_id, actor_name, subject, data, group_key, now, expires_at, plans[r]
            )
            for r in pending
        ]
        inserted = await _insert(session, rows, grouped=group_key is not None)
        added += inserted
        rest = set(pending) - {row.recipient_id for row in inserted}
        if not rest:
            break
        assert group_key is not None
        existing = await _grow(
            session, rest, group_key, kind, actor_id, actor_name, data, now, expires_at
        )
        grown += existing
        pending = [r for r in pending if r in rest - {row.recipient_id for row in existing}]
        if not pending:
            break
    counts = await _counts_of(session, batch, now)
    await _schedule_email(uow, added)
    listed_added = [row for row in added if row.in_app]  # the others are not in the feed
    listed_grown = [row for row in grown if row.in_app]
    # Per recipient: its entry's event, then its counts; the whole batch in one append.
    entries: list[tuple[str, Event]] = []
    for row in listed_added:
        entries.append(
            (user_channel(row.recipient_id), NotificationAdded(notification_payload(row)))
        )
    for row in listed_grown:
        entries.append(
            (user_channel(row.recipient_id), NotificationUpdated(notification_payload(row)))
        )
    for row in (*listed_added, *listed_grown):
        count = counts.get(row.recipient_id, Counts(0, 0))
        entries.append(
            (user_channel(row.recipient_id), UnreadCountChanged(count.unread, count.unseen))
        )
    await record_many(uow, entries)
    return [*added, *grown]


def _new_row(
    recipient_id: uuid.UUID,
    kind: NotificationKind,
    actor_id: uuid.UUID | None,
    actor_name: str | None,
    subject: Subject | None,
    data: dict[str, Any],
    group_key: str | None,
    now: datetime,
    expires_at: datetime,
    plan: _Plan,
) -> dict[str, Any]:
    actor_count = 0 if actor_id is None else 1
    text_ = render(kind, data, actor_name, actor_count)
    return {
        "id": uuid.uuid4(),
        "recipient_id": recipient_id,
        "kind": kind,
        "actor_id": actor_id,
        "actor_count": actor_count,
        "actor_ids": [] if actor_id is None else [str(actor_id)],
        "subject_type": None if subject is None else subject.type,
        "subject_id": None if subject is None else subject.id,
        "group_key": group_key,
        "title": text_.title,
        "body": text_.body,
        "action_path": text_.action_path,
        "data": data,
        "created_at": now,
        "updated_at": now,
        "seen_at": None,
        "read_at": None,
        "expires_at": expires_at,
        "in_app": plan.in_app,
        "email_due_at": now if plan.email_now else None,
        "emailed_at": None,
    }


@dataclass(frozen=True, slots=True)
class _Plan:
    in_app: bool
    email_now: bool  # an instant email is due (a job sends it after commit)
    email_later: bool  # the next daily digest lists it
    push: bool  # it may be pushed (quiet hours are decided when it is sent)

    @property
    def wanted(self) -> bool:
        return self.in_app or self.email_now or self.email_later or self.push


def _plan(prefs: preferences.Preferences, kind: NotificationKind, now: datetime) -> _Plan:
    """Where one recipient gets `kind` (security: everywhere, at once, whatever the settings)."""
    security = preferences.group_of(kind) in preferences.LOCKED
    held = prefs.paused(now) and not security  # the pause holds push and instant email
    email = prefs.wants(kind, Channel.EMAIL)
    frequency = EmailFrequency.INSTANT if security else prefs.email_frequency
    return _Plan(
        in_app=prefs.wants(kind, Channel.IN_APP),
        email_now=email and frequency is EmailFrequency.INSTANT and not held,
        email_later=email and frequency is EmailFrequency.DAILY,
        push=prefs.wants(kind, Channel.PUSH) and not held,
    )


async def _schedule_email(uow: UnitOfWork, rows: list[Notification]) -> None:
    """One `email_notifications` job for the rows of this batch that are due an instant email
    (the minute sweep sends any whose job was lost)."""
    due = [str(row.id) for row in rows if row.email_due_at is not None]
    if due:
        enqueue_after_commit(
            uow, uow.app.jobs, EMAIL_JOB, job_id=f"{EMAIL_JOB}:{due[0]}", notification_ids=due
        )


async def _insert(
    session: AsyncSession, rows: list[dict[str, Any]], *, grouped: bool
) -> list[Notification]:
    """One multi-row INSERT; grouped rows skip recipients with an unread entry of the group."""
    if not rows:
        return []
    if not grouped:
        statement: Any = insert(Notification).values(rows)
    else:
        upsert = upsert_insert(session)
        statement = (
            upsert(Notification)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=["recipient_id", "group_key"], index_where=_UNREAD_GROUP
            )
        )
    return list(await session.scalars(statement.returning(Notification)))


async def _grow(
    session: AsyncSession,
    recipients: set[uuid.UUID],
    group_key: str,
    kind: NotificationKind,
    actor_id: uuid.UUID | None,
    actor_name: str | None,
    data: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> list[Notification]:
    """The unread entries of `group_key` for `recipients`, locked and grown by one event."""
    rows = list(
        await session.scalars(
            select(Notification)
            .where(
                Notification.recipient_id.in_(recipients),
                Notification.group_key == group_key,
                Notification.read_at.is_(None),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        if actor_id is not None:
            actors = [a for a in row.actor_ids if a != str(actor_id)]
            if len(actors) == len(row.actor_ids):
                row.actor_count += 1  # a distinct actor (among the last RECENT_ACTORS)
            row.actor_ids = [*actors, str(actor_id)][-RECENT_ACTORS:]
            row.actor_id = actor_id
        row.kind = kind
        row.data = {**row.data, **data}
        text_ = render(kind, row.data, actor_name, row.actor_count)
        row.title, row.body, row.action_path = text_.title, text_.body, text_.action_path
        row.updated_at, row.seen_at, row.expires_at = now, None, expires_at
    await session.flush()
    return rows


# -- reading ------------------------------------------------------------------------------------


def _mine(viewer_id: uuid.UUID, now: datetime) -> list[Any]:
    """The viewer's feed: their entries, in the feed, not expired."""
    return [
        Notification.recipient_id == viewer_id,
        Notification.in_app.is_(True),
        Notification.expires_at > now,
    ]


async def _counts_of(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Counts]:
    unread = Notification.read_at.is_(None)
    unseen = and_(unread, Notification.seen_at.is_(None))
    result = await session.execute(
        select(
            Notification.recipient_id,
            func.sum(case((unread, 1), else_=0)),
            func.sum(case((unseen, 1), else_=0)),
        )
        .where(
            Notification.recipient_id.in_(list(user_ids)),
            Notification.in_app.is_(True),
            Notification.expires_at > now,
        )
        .group_by(Notification.recipient_id)
    )
    return {row[0]: Counts(int(row[1] or 0), int(row[2] or 0)) for row in result}


async def counts(session: AsyncSession, viewer_id: uuid.UUID) -> Counts:
    found = await _counts_of(session, [viewer_id], utcnow())
    return found.get(viewer_id, Counts(0, 0))


async def list_notifications(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    first: int | None,
    after: str | None,
    unread_only: bool = False,
) -> Page:
    """Newest first by (updated_at, id): an entry that grows moves to the top.
    `PaginationError` for a bad `first` or cursor."""
    limit = page_size(first)
    key = decode_time_cursor(after)
    conditions = _mine(viewer_id, utcnow())
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    query = select(Notification).where(*conditions)
    if key is not None:
        at, row_id = key
        query = query.where(
            or_(
                Notification.updated_at < at,
                and_(Notification.updated_at == at, Notification.id < row_id),
            )
        )
    query = query.order_by(Notification.updated_at.desc(), Notification.id.desc()).limit(limit + 1)
    total = await session.scalar(select(func.count()).select_from(Notification).where(*conditions))
    rows = list(await session.scalars(query))
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [time_cursor(row.updated_at, row.id) for row in rows]
    return Page(rows, cursors, has_next, int(total or 0))


# -- marking ------------------------------------------------------------------------------------


def _parse_id(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("Notification not found.", field=field) from None


async def mark_read(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    ids: Sequence[str] | None = None,
    up_to: str | None = None,
    all: bool = False,
) -> ReadResult:
    """Exactly one of `ids` (at most 100, all the viewer's), `up_to` (a cursor of the feed:
    that entry and every older one) or `all`."""
    given = sum((ids is not None, up_to is not None, bool(all)))
    if given != 1:
        raise ValidationProblem("Give exactly one of ids, upTo and all.")
    now = utcnow()
    mine = _mine(viewer_id, now)
    unread = Notification.read_at.is_(None)
    if ids is not None:
        if len(ids) > MAX_IDS:
            raise ValidationProblem(f"At most {MAX_IDS} ids at a time.", field="ids")
        wanted = {_parse_id(raw, "ids") for raw in ids}
        found = set(
            await uow.session.scalars(
                select(Notification.id).where(*mine, Notification.id.in_(wanted))
            )
        )
        if found != wanted:
            raise NotFound("Notification not found.", field="ids")
        target: list[Any] = [*mine, unread, Notification.id.in_(wanted)]
    elif up_to is not None:
        try:
            key = decode_time_cursor(up_to)
        except PaginationError as exc:
            raise ValidationProblem(str(exc).replace("`after`", "`upTo`"), field="upTo") from None
        assert key is not None
        at, row_id = key
        older = or_(
            Notification.updated_at < at,
            and_(Notification.updated_at == at, Notification.id <= row_id),
        )
        target = [*mine, unread, older]
    else:
        target = [*mine, unread]
    changed = await uow.session.scalars(
        update(Notification)
        .where(*target)
        .values(read_at=now, seen_at=func.coalesce(Notification.seen_at, now))
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    changed_ids = sorted(str(i) for i in changed)
    after = await counts(uow.session, viewer_id)
    if all or changed_ids:
        event = NotificationsRead([] if all else changed_ids, bool(all), after.unread, after.unseen)
        await record(uow, user_channel(viewer_id), event)
    return ReadResult([] if all else changed_ids, bool(all), after)


async def mark_seen(uow: UnitOfWork, viewer_id: uuid.UUID) -> Counts:
    """Clear the badge: every unread entry is seen (not read)."""
    now = utcnow()
    await uow.session.execute(
        update(Notification)
        .where(*_mine(viewer_id, now), Notification.seen_at.is_(None))
        .values(seen_at=now)
        .execution_options(synchronize_session=False)
    )
    after = await counts(uow.session, viewer_id)
    await record(uow, user_channel(viewer_id), UnreadCountChanged(after.unread, after.unseen))
    return after


async def delete_notification(uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str) -> Counts:
    """Delete one of the viewer's notifications; the counts after."""
    notification_id = _parse_id(raw_id, "id")
    deleted = await uow.session.scalar(
        delete(Notification)
        .where(*_mine(viewer_id, utcnow()), Notification.id == notification_id)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    if deleted is None:
        raise NotFound("Notification not found.", field="id")
    after = await counts(uow.session, viewer_id)
    event = NotificationsDeleted([str(deleted)], False, after.unread, after.unseen)
    await record(uow, user_channel(viewer_id), event)
    return after


async def clear_notifications(uow: UnitOfWork, viewer_id: uuid.UUID) -> int:
    """Delete every notification of the viewer; how many there were."""
    result: Any = await uow.session.execute(
        delete(Notification)
        .where(Notification.recipient_id == viewer_id)
        .execution_options(synchronize_session=False)
    )
    await record(uow, user_channel(viewer_id), NotificationsDeleted([], True, 0, 0))
    return int(result.rowcount or 0)
