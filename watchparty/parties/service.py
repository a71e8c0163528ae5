"""Party lifecycle: create, update, start, end, delete, and the by-code preview.

Services take the unit of work first, then the acting user's id (`watchparty.db`); they flush,
never commit, and record the party events the change implies in the same unit
(`watchparty.events.record`), so they are stored with the change and published only after it
commits.

Decisions (see the README):
- A party without `scheduledStart` (or with one already past) starts LIVE; a future one makes
  it SCHEDULED until `startParty` or that time, when it starts by itself (`reminders.py`: the
  reminder before, PARTY_STARTED at the start). ENDED is final.
- `maxMembers` is 2..1000 (default 50, or the host's plan's limit when lower) and cannot go
  below the current member count; the host's plan bounds it and `maxScreenShares`;
  `bufferingTimeoutSeconds` 1..60 (default 8); `scheduledStart` at most a year ahead.
- The first media item becomes queue item 0 and the current item, PAUSED at 0 (revision 1).
- Deleting is soft (`deleted_at`): the party reads NotFound everywhere and every open stream
  ends with `MembershipRevoked(PARTY_DELETED)`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts.models import User
from watchparty.errors import NotFound, PlanLimit, ValidationProblem
from watchparty.events import record
from watchparty.kit.time import epoch_ms, utcnow
from watchparty.parties.authz import (
    PARTY_NOT_FOUND,
    load_party,
    require_not_ended,
    require_role,
)
from watchparty.parties.codes import generate_room_code, normalize_room_code
from watchparty.parties.events import (
    MembershipRevoked,
    PartyEnded,
    PartyUpdated,
    party_channel,
)
from watchparty.parties.models import (
    DEFAULT_BUFFERING_TIMEOUT_SECONDS,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_SCREEN_SHARES,
    ControlPolicy,
    MemberRole,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
    PollPolicy,
    QueueItem,
    timeline_values,
)
from watchparty.parties.payloads import member_payload, party_payload
from watchparty.parties.plan_limits import plan_of
from watchparty.parties.reminders import announce_started, schedule_reminders
from watchparty.parties.timeline import MIN_LEAD_MS, Timeline
from watchparty.parties.validation import (
    MIN_MEMBERS,
    check_buffering_timeout,
    check_max_members,
    check_max_screen_shares,
    check_media_for,
    check_scheduled_start,
    clean_description,
    clean_title,
)
from watchparty.parties.validation import Media as Media  # re-exported: playback uses them
from watchparty.parties.validation import check_media as check_media

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

CODE_ATTEMPTS = 8


# -- reads -------------------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.", field="userId")
    return user


async def active_member_count(session: AsyncSession, party_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count()).where(
            PartyMember.party_id == party_id, PartyMember.status == MemberStatus.ACTIVE
        )
    )
    return int(count or 0)


async def hosted_party_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Parties `user_id` hosts that have not ended (scheduled or live, not deleted)."""
    count = await session.scalar(
        select(func.count()).where(
            Party.host_id == user_id,
            Party.status != PartyStatus.ENDED,
            Party.deleted_at.is_(None),
        )
    )
    return int(count or 0)


async def party_by_code(session: AsyncSession, raw_code: str) -> Party:
    """The (not deleted) party with this room code, whatever its visibility: the code is the
    secret that makes UNLISTED and PRIVATE parties reachable."""
    code = normalize_room_code(raw_code)
    if code is None:
        raise NotFound(PARTY_NOT_FOUND, field="code")
    party = await session.scalar(
        select(Party).where(Party.code == code, Party.deleted_at.is_(None))
    )
    if party is None:
        raise NotFound(PARTY_NOT_FOUND, field="code")
    return party


async def party_event_payload(session: AsyncSession, party: Party) -> dict[str, Any]:
    host = await session.get(User, party.host_id)
    return party_payload(party, host)


async def member_event_payload(session: AsyncSession, member: PartyMember) -> dict[str, Any]:
    user = await session.get(User, member.user_id)
    assert user is not None  # memberships cascade with their user
    return member_payload(member, user, online=False)


# -- lifecycle ---------------------------------------------------------------------------------


async def _unused_code(session: AsyncSession) -> str:
    # 30^8 codes make a collision very rare; the unique column is the final word.
    for _ in range(CODE_ATTEMPTS):
        code = generate_room_code()
        if not await session.scalar(select(exists().where(Party.code == code))):
            return code
    raise RuntimeError("could not find an unused room code")


async def create_party(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    title: str,
    description: str | None = None,
    visibility: PartyVisibility = PartyVisibility.PUBLIC,
    max_members: int | None = None,
    require_approval: bool = False,
    control_policy: ControlPolicy = ControlPolicy.HOST_ONLY,
    chat_enabled: bool = True,
    reactions_enabled: bool = True,
    wait_for_buffering: bool = True,
    buffering_timeout_seconds: int = DEFAULT_BUFFERING_TIMEOUT_SECONDS,
    poll_policy: PollPolicy = PollPolicy.MODERATORS,
    max_screen_shares: int = DEFAULT_MAX_SCREEN_SHARES,
    scheduled_start: datetime | None = None,
    media: Media | None = None,
) -> Party:
    """A new party hosted by the viewer, within their plan (`plan_limits`): `max_members`
    left out is 50 or the plan's limit when lower; above the plan, more screen shares than it
    allows, or one party more than it lets the viewer host at once is `PlanLimitExceeded`."""
    session, host_id = uow.session, viewer_id
    now = utcnow()
    plan = await plan_of(session, uow.app.settings, host_id, lock=True)
    if max_members is None:
        max_members = DEFAULT_MAX_MEMBERS
        if plan is not None:
            max_members = max(MIN_MEMBERS, min(max_members, plan.allows(PlanLimit.PARTY_MEMBERS)))
    clean = {
        "title": clean_title(title),
        "description": clean_description(description),
        "max_members": check_max_members(max_members),
        "buffering_timeout_seconds": check_buffering_timeout(buffering_timeout_seconds),
        "max_screen_shares": check_max_screen_shares(max_screen_shares),
    }
    if plan is not None:
        plan.require(PlanLimit.PARTY_MEMBERS, max_members, field="maxMembers")
        plan.require(PlanLimit.SCREEN_SHARES, max_screen_shares, field="maxScreenShares")
        plan.require(PlanLimit.HOSTED_PARTIES, await hosted_party_count(session, host_id) + 1)
    start = check_scheduled_start(scheduled_start, now)
    item_media = await check_media_for(session, host_id, media) if media is not None else None
    scheduled = start is not None and start > now
    party = Party(
        id=uuid.uuid4(),
        code=await _unused_code(session),
        visibility=visibility,
        status=PartyStatus.SCHEDULED if scheduled else PartyStatus.LIVE,
        host_id=host_id,
        require_approval=require_approval,
        control_policy=control_policy,
        chat_enabled=chat_enabled,
        reactions_enabled=reactions_enabled,
        wait_for_buffering=wait_for_buffering,
        poll_policy=poll_policy,
        scheduled_start=start,
        started_at=None if scheduled else now,
        created_at=now,
        **clean,
    )
    session.add(party)
    session.add(
        PartyMember(party_id=party.id, user_id=host_id, role=MemberRole.HOST, joined_at=now)
    )
    await session.flush()  # the party row first: queue items reference it
    if item_media is not None:
        item = QueueItem(
            id=uuid.uuid4(),
            party_id=party.id,
            position=0,
            url=item_media.url,
            video_id=None if item_media.video_id is None else uuid.UUID(item_media.video_id),
            title=item_media.title,
            duration_seconds=item_media.duration_seconds,
            added_by_id=host_id,
        )
        session.add(item)
        timeline = Timeline().change_item(
            str(item.id), item.duration_seconds, epoch_ms(), autoplay=False, lead_ms=MIN_LEAD_MS
        )
        for key, value in timeline_values(timeline).items():
            setattr(party, key, value)
        party.playback_updated_by_id = host_id
    await session.flush()
    await schedule_reminders(uow, party)
    tracking.track(
        uow, "party.create", user_id=host_id, party_id=party.id, visibility=visibility.value
    )
    return party


_CLEARABLE = frozenset({"description", "scheduled_start"})  # settings that may be null


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def update_party(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, changes: dict[str, Any]
) -> Party:
    """Apply the given settings (keys as the model's attributes); host and co-hosts only."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.COHOST)
    party = access.party
    require_not_ended(party)
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None and key not in _CLEARABLE:
            name = _camel(key)
            raise ValidationProblem(f"{name} cannot be null; leave it out to keep it.", field=name)
        if key == "title":
            values[key] = clean_title(value)
        elif key == "description":
            values[key] = clean_description(value)
        elif key == "max_members":
            count = await active_member_count(session, party.id)
            if check_max_members(value) < count:
                raise ValidationProblem(
                    f"The party already has {count} members.", field="maxMembers"
                )
            await _within_host_plan(uow, viewer_id, party, PlanLimit.PARTY_MEMBERS, value)
            values[key] = value
        elif key == "buffering_timeout_seconds":
            values[key] = check_buffering_timeout(value)
        elif key == "max_screen_shares":
            check_max_screen_shares(value)
            await _within_host_plan(uow, viewer_id, party, PlanLimit.SCREEN_SHARES, value)
            values[key] = value
        elif key == "scheduled_start":
            if party.status is not PartyStatus.SCHEDULED:
                raise ValidationProblem("The party has started already.", field="scheduledStart")
            start = check_scheduled_start(value, utcnow())
            if start is not None and start <= utcnow():
                raise ValidationProblem("Give a time in the future.", field="scheduledStart")
            values[key] = start
        else:
            values[key] = value
    changed = {k: v for k, v in values.items() if getattr(party, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(party, key, value)
        party.updated_at = utcnow()
        await session.flush()
        await record_party_updated(uow, party)
        if "scheduled_start" in changed:
            await schedule_reminders(uow, party)  # the old time's jobs find it changed
    return party


async def _within_host_plan(
    uow: UnitOfWork, viewer_id: uuid.UUID, party: Party, limit: PlanLimit, value: int
) -> None:
    """Raising a setting above the host's plan is refused; keeping or lowering one that is
    already above it (after a downgrade or a transfer) is not."""
    if value <= getattr(party, _SETTING_OF[limit]):
        return
    plan = await plan_of(uow.session, uow.app.settings, party.host_id)
    if plan is not None:
        field = _camel(_SETTING_OF[limit])
        plan.require(limit, value, field=field, host=party.host_id != viewer_id)


_SETTING_OF = {
    PlanLimit.PARTY_MEMBERS: "max_members",
    PlanLimit.SCREEN_SHARES: "max_screen_shares",
}


async def record_party_updated(uow: UnitOfWork, party: Party) -> None:
    """Record `PartyUpdated` with the party as it is now (flushed)."""
    payload = await party_event_payload(uow.session, party)
    await record(uow, party_channel(party.id), PartyUpdated(party=payload))


async def start_party(uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str) -> Party:
    """SCHEDULED -> LIVE (host and co-hosts); starting a LIVE party changes nothing."""
    access = await load_party(uow.session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.COHOST)
    party = access.party
    require_not_ended(party)
    if party.status is PartyStatus.SCHEDULED:
        await mark_started(uow, party, viewer_id)
    return party


async def mark_started(uow: UnitOfWork, party: Party, actor_id: uuid.UUID | None) -> None:
    """SCHEDULED -> LIVE for a (locked) party, by `startParty` (`actor_id`) or at its scheduled
    time (None). Playback is left as it is (PAUSED at 0 until someone presses play); the
    members hear PARTY_STARTED (not whoever started it)."""
    party.status = PartyStatus.LIVE
    party.started_at = utcnow()
    await uow.session.flush()
    await record_party_updated(uow, party)
    await announce_started(uow, party, actor_id)


async def end_party(uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str) -> Party:
    """-> ENDED (host and co-hosts); ending an ended party changes nothing."""
    access = await load_party(uow.session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.COHOST)
    if access.party.status is not PartyStatus.ENDED:
        await mark_ended(uow, access.party)
    return access.party


async def mark_ended(uow: UnitOfWork, party: Party) -> None:
    """End a (locked) party, whoever asked: its host, or the last member leaving."""
    party.status = PartyStatus.ENDED
    party.ended_at = utcnow()
    await uow.session.flush()
    await record(uow, party_channel(party.id), PartyEnded())


async def delete_party(uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str) -> uuid.UUID:
    """Soft delete (host only): gone for everybody, every open stream ends."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.HOST)
    party = access.party
    now = utcnow()
    party.deleted_at = now
    if party.status is not PartyStatus.ENDED:
        party.status = PartyStatus.ENDED
        party.ended_at = now
    await session.flush()
    # Without a userId the revocation ends every stream of the party (party_stream.subscription).
    await record(uow, party_channel(party.id), MembershipRevoked(reason="PARTY_DELETED"))
    return party.id
