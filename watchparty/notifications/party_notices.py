"""Notifications about parties: join requests and their answers, role changes, handovers,
kicks and bans; reminders and starts of scheduled parties; direct invitations, and opening one
to accept or decline it.

Parties never imports notifications: it runs the callbacks registered with
`parties.member_hooks.on_member_change` and `parties.notice_hooks.on_party_notice` inside the
unit of work of each change, and asks the inbox registered with `use_invitation_inbox` for an
invitation; the composition root (`registry.py`) registers `member_changed`, `party_noticed`
and `open_invitation`. Changes arrive as plain values (`MemberChangeLike`, `PartyNoticeLike`,
which parties' dataclasses satisfy), so this module imports nothing from parties.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select

from watchparty.db import UnitOfWork
from watchparty.errors import NotFound, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.notifications.models import Notification, NotificationKind, SubjectType
from watchparty.notifications.service import Subject, mark_read, notify

K = NotificationKind

# MemberChangeKind (parties) -> the kind its subject is told about.
KINDS = {
    "JOIN_APPROVED": K.JOIN_APPROVED,
    "JOIN_REJECTED": K.JOIN_REJECTED,
    "ROLE_CHANGED": K.ROLE_CHANGED,
    "HOST_TRANSFERRED": K.HOST_TRANSFERRED,
    "KICKED": K.KICKED,
    "BANNED": K.BANNED,
}
ROLE_NAMES = {"COHOST": "a co-host", "MODERATOR": "a moderator", "MEMBER": "a member"}
HANDOVERS = {
    "TRANSFER": "The host handed the party over to you.",
    "HOST_LEFT": "The host left, so hosting passed to you.",
    "HOST_AWAY": "The host was away, so hosting passed to you.",
}


class MemberChangeLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def party_id(self) -> uuid.UUID: ...
    @property
    def party_title(self) -> str: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def actor_id(self) -> uuid.UUID | None: ...
    @property
    def role(self) -> str | None: ...
    @property
    def handover(self) -> str | None: ...
    @property
    def moderator_ids(self) -> Sequence[uuid.UUID]: ...


async def member_changed(uow: UnitOfWork, change: MemberChangeLike) -> None:
    """JOIN_REQUEST to the party's moderators and above (one entry per party, collapsed);
    the other kinds to the member the change is about."""
    party_id = str(change.party_id)
    data = {"partyId": party_id, "partyTitle": change.party_title}
    subject = Subject(SubjectType.PARTY, party_id)
    if change.kind == "JOIN_REQUESTED":
        await notify(
            uow,
            change.moderator_ids,
            K.JOIN_REQUEST,
            actor_id=change.actor_id,
            subject=subject,
            data=data,
            group_key=f"join-request:{party_id}",
        )
        return
    kind = KINDS.get(change.kind)
    if kind is None:
        return
    if kind is K.ROLE_CHANGED:
        data["role"] = ROLE_NAMES.get(change.role or "", (change.role or "").lower())
    if kind is K.HOST_TRANSFERRED:
        data["handover"] = HANDOVERS.get(change.handover or "", HANDOVERS["TRANSFER"])
    await notify(uow, [change.user_id], kind, actor_id=change.actor_id, subject=subject, data=data)


# PartyNoticeKind (parties) -> the kind its recipients are told about, and its group: a
# party's reminder and start share one entry (STARTED replaces an unread "starts in ..."), and
# invitations to one party collapse ("Alice and 2 others invited you to ...").
NOTICE_KINDS = {
    "STARTING_SOON": (K.PARTY_STARTING_SOON, "party-start"),
    "STARTED": (K.PARTY_STARTED, "party-start"),
    "INVITED": (K.PARTY_INVITE, "party-invite"),
}


class PartyNoticeLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def party_id(self) -> uuid.UUID: ...
    @property
    def party_title(self) -> str: ...
    @property
    def recipient_ids(self) -> Sequence[uuid.UUID]: ...
    @property
    def actor_id(self) -> uuid.UUID | None: ...
    @property
    def starts_in_seconds(self) -> int | None: ...


def starts_in(seconds: int) -> str:
    """ "15 minutes", "1 minute", "2 hours": the time to a start, rounded up to a minute."""
    minutes = max(1, -(-seconds // 60))
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def party_noticed(uow: UnitOfWork, notice: PartyNoticeLike) -> None:
    """STARTING_SOON, STARTED and INVITED to the notice's recipients (never its actor)."""
    found = NOTICE_KINDS.get(notice.kind)
    if found is None:
        return
    kind, group = found
    party_id = str(notice.party_id)
    data = {"partyId": party_id, "partyTitle": notice.party_title}
    if notice.starts_in_seconds is not None:
        data["startsIn"] = starts_in(notice.starts_in_seconds)
    await notify(
        uow,
        notice.recipient_ids,
        kind,
        actor_id=notice.actor_id,
        subject=Subject(SubjectType.PARTY, party_id),
        data=data,
        group_key=f"{group}:{party_id}",
    )


async def open_invitation(uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str) -> uuid.UUID:
    """The party of the viewer's PARTY_INVITE `raw_id`, marked read in `uow` (a change that
    fails after this rolls the read back). Another person's, a missing or an expired one is
    NotFound; another kind of the viewer's own a ValidationProblem."""
    try:
        notification_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise NotFound("Notification not found.", field="notificationId") from None
    row = await uow.session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.recipient_id == viewer_id,
            Notification.expires_at > utcnow(),
        )
    )
    if row is None:
        raise NotFound("Notification not found.", field="notificationId")
    if row.kind is not K.PARTY_INVITE or row.subject_id is None:
        raise ValidationProblem("This notification is not an invitation.", field="notificationId")
    await mark_read(uow, viewer_id, ids=[str(row.id)])
    return uuid.UUID(row.subject_id)
