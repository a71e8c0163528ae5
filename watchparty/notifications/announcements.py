"""System announcements (`watchparty notify --all | --user EMAIL`): an ANNOUNCEMENT entry to
every active account, or to one.

- Batches: recipients are read by id (keyset, active accounts only) `batch_size` at a time, and
  each batch is its own unit of work (read, write, commit), so sending to 100,000 accounts never
  holds one long transaction and a crash loses at most the batch in flight.
- Idempotent and resumable: every announcement has an id (given, or generated and printed) and
  its entries the group key `announcement:<id>`. A batch skips the accounts that already have an
  entry of that group (read or not), so running the same command again with the same `--id`
  notifies only the accounts it did not reach (an account that deleted the entry meanwhile gets
  it again).
- Title (1..80 characters) and body (1..180) are the text shown, verbatim (whitespace folded as
  for every notification); the action path is optional and must be a path of the frontend.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.db import UnitOfWork
from watchparty.errors import NotAllowed, NotFound, ValidationProblem
from watchparty.notifications.models import (
    ACTION_PATH_MAX_LENGTH,
    BODY_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Notification,
    NotificationKind,
)
from watchparty.notifications.service import NOTIFY_BATCH, notify

__all__ = [
    "NOTIFY_BATCH",
    "Announcement",
    "Sent",
    "announcement",
    "send_batch",
    "send_to_all",
    "send_to_one",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_EXPIRES_IN_DAYS = 365

Units = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@dataclass(frozen=True, slots=True)
class Announcement:
    id: str
    title: str
    body: str
    action_path: str | None = None
    expires_in_days: int | None = None  # None: the kind's retention (30 days)

    @property
    def group_key(self) -> str:
        return f"announcement:{self.id}"


@dataclass(frozen=True, slots=True)
class Sent:
    """One batch's outcome: accounts notified now, and accounts that already had it."""

    notified: int
    skipped: int


def announcement(
    *,
    title: str,
    body: str,
    action_path: str | None = None,
    expires_in_days: int | None = None,
    announcement_id: str | None = None,
) -> Announcement:
    """A checked announcement (`ValidationProblem` naming the field otherwise); a new id when
    none is given."""
    title, body = " ".join(title.split()), " ".join(body.split())
    if not 1 <= len(title) <= TITLE_MAX_LENGTH:
        raise ValidationProblem(
            f"The title must be 1 to {TITLE_MAX_LENGTH} characters (it is {len(title)}).",
            field="title",
        )
    if not 1 <= len(body) <= BODY_MAX_LENGTH:
        raise ValidationProblem(
            f"The body must be 1 to {BODY_MAX_LENGTH} characters (it is {len(body)}).",
            field="body",
        )
    if action_path is not None and (
        not action_path.startswith("/")
        or action_path.startswith("//")
        or len(action_path) > ACTION_PATH_MAX_LENGTH
        or any(c.isspace() for c in action_path)
    ):
        raise ValidationProblem(
            f"The action path must be a path of the frontend such as /parties (at most "
            f"{ACTION_PATH_MAX_LENGTH} characters, no spaces).",
            field="actionPath",
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise ValidationProblem(
            f"expires-in-days must be 1 to {MAX_EXPIRES_IN_DAYS}.", field="expiresInDays"
        )
    if announcement_id is None:
        announcement_id = uuid.uuid4().hex
    elif not ID_PATTERN.fullmatch(announcement_id):
        raise ValidationProblem(
            "The id must be 1 to 64 letters, digits, '.', '_' or '-' (not first).", field="id"
        )
    return Announcement(announcement_id, title, body, action_path, expires_in_days)


async def send_batch(uow: UnitOfWork, sent: Announcement, user_ids: list[uuid.UUID]) -> Sent:
    """Notify the accounts of `user_ids` that have no entry of the announcement yet."""
    have = set(
        await uow.session.scalars(
            select(Notification.recipient_id).where(
                Notification.recipient_id.in_(user_ids),
                Notification.group_key == sent.group_key,
            )
        )
    )
    todo = [user_id for user_id in user_ids if user_id not in have]
    data = {"title": sent.title, "body": sent.body}
    if sent.action_path is not None:
        data["path"] = sent.action_path
    expires_in = None if sent.expires_in_days is None else timedelta(days=sent.expires_in_days)
    rows = await notify(
        uow,
        todo,
        NotificationKind.ANNOUNCEMENT,
        data=data,
        group_key=sent.group_key,
        expires_in=expires_in,
    )
    return Sent(len(rows), len(user_ids) - len(todo))


async def send_to_all(
    units: Units, sent: Announcement, *, batch_size: int = NOTIFY_BATCH
) -> AsyncIterator[Sent]:
    """Every active account, one unit of work per batch; yields each batch's outcome after its
    commit."""
    after: uuid.UUID | None = None
    while True:
        async with units() as uow:
            query = select(User.id).where(User.is_active.is_(True))
            if after is not None:
                query = query.where(User.id > after)
            ids = list(await uow.session.scalars(query.order_by(User.id).limit(batch_size)))
            if not ids:
                return
            result = await send_batch(uow, sent, ids)
        yield result
        after = ids[-1]


async def send_to_one(uow: UnitOfWork, sent: Announcement, email: str) -> Sent:
    """The account of `email` (`NotFound` when there is none, `NotAllowed` when disabled)."""
    user = await find_user_by_email(uow.session, email)
    if user is None:
        raise NotFound(f"No account has the email {email}.", field="user")
    if not user.is_active:
        raise NotAllowed(f"The account of {email} is disabled.", field="user")
    return await send_batch(uow, sent, [user.id])
