"""Notifications about party memberships: join requests and their answers, role changes,
handovers, kicks and bans.

Parties never imports notifications: it runs the callbacks registered with
`parties.member_hooks.on_member_change` inside the unit of work of each change, and the
composition root (`registry.py`) registers `member_changed` there. The change arrives as plain
values (`MemberChangeLike`, which `parties.member_hooks.MemberChange` satisfies), so this module
imports nothing from parties.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from watchparty.db import UnitOfWork
from watchparty.notifications.models import NotificationKind, SubjectType
from watchparty.notifications.service import Subject, notify

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
