"""What parties tells people about, and the invitations it opens: registered, not imported.

Parties never imports notifications, yet a scheduled party reminds its members and starts, and
`inviteToParty` invites people, and `acceptPartyInvite` / `declinePartyInvite` answer an
invitation by the id of its notification. The composition root (`registry.py`) registers:

- `on_party_notice(hook)`: run inside the unit of work of the change, after it is flushed, with a
  `PartyNotice` of plain values (so whatever the hook writes commits or rolls back with it);
- `use_invitation_inbox(inbox)`: opens the viewer's invitation by its notification id (marking
  it read in the same unit of work) and says which party it invites to. Without one, every
  notification id is NotFound.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from watchparty.errors import NotFound

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


class PartyNoticeKind(StrEnum):
    STARTING_SOON = "STARTING_SOON"  # `starts_in_seconds` before the scheduled start
    STARTED = "STARTED"  # by itself at its time (no actor) or by `startParty` (the actor)
    INVITED = "INVITED"  # `actor_id` invited the recipients


@dataclass(frozen=True, slots=True)
class PartyNotice:
    """Something to tell `recipient_ids` about a party, caused by `actor_id` (None: nobody, the
    clock). Plain values only, so a hook needs nothing from parties to read it."""

    kind: PartyNoticeKind
    party_id: uuid.UUID
    party_title: str
    recipient_ids: tuple[uuid.UUID, ...]
    actor_id: uuid.UUID | None = None
    starts_in_seconds: int | None = None


NoticeHook = Callable[["UnitOfWork", PartyNotice], Awaitable[None]]
# (unit of work, viewer, notification id) -> the party the viewer's invitation is for.
InvitationInbox = Callable[["UnitOfWork", uuid.UUID, str], Awaitable[uuid.UUID]]

_notice_hooks: list[NoticeHook] = []
_inbox: list[InvitationInbox] = []  # at most one


def on_party_notice(hook: NoticeHook) -> NoticeHook:
    """Run `hook` on every party notice, in the order of registration (idempotent)."""
    if hook not in _notice_hooks:
        _notice_hooks.append(hook)
    return hook


async def party_noticed(uow: UnitOfWork, notice: PartyNotice) -> None:
    """Run every registered hook on `notice` (inside the caller's unit of work)."""
    if not notice.recipient_ids:
        return
    for hook in _notice_hooks:
        await hook(uow, notice)


def use_invitation_inbox(inbox: InvitationInbox) -> None:
    """Open invitations with `inbox`. Registering the same one again changes nothing; a
    different one is a wiring mistake."""
    if _inbox and _inbox[0] is not inbox:
        raise RuntimeError("an invitation inbox is already registered")
    _inbox[:] = [inbox]


async def open_invitation(uow: UnitOfWork, viewer_id: uuid.UUID, notification_id: str) -> uuid.UUID:
    """The party of the viewer's invitation `notification_id`, which is read from now on
    (NotFound when it is not the viewer's, or there is no inbox)."""
    if not _inbox:
        raise NotFound("Notification not found.", field="notificationId")
    return await _inbox[0](uow, viewer_id, notification_id)
