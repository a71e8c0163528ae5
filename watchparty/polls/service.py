"""Poll rules: create, vote, close. Services take the unit of work first, then the acting
user's id (`watchparty.db`); they flush, and the unit commits once.

- Who may create: the party's `poll_policy` (MODERATORS: moderator and above; EVERYONE: any
  active member). Who may close: the poll's creator, or a moderator and above.
- One ballot per member, replaced by each vote while the poll is open. An empty `optionIds`
  withdraws the ballot. Single choice takes exactly one option, multiple choice 1..n distinct.
- Votes and closes on one poll are serialized by locking the poll row first (an UPDATE: a row
  lock on PostgreSQL, the write lock on SQLite), so the counters on the option rows stay exact
  under concurrent votes from many processes.
- A poll is closed once `closed_at` is set or `closes_at` has passed: reads and votes never
  depend on the closing job being on time (`polls.tasks.close_due_poll` only records it).
- Every change records one `PollChanged` with the whole poll (counts included).
- A new poll tells the party's other active members (POLL_OPENED, one entry per party while
  unread: `poll-opened:<partyId>`), in the unit of work that creates it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts.models import User
from watchparty.errors import NotAllowed, NotFound, ValidationProblem
from watchparty.events import record
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.time import utcnow
from watchparty.notifications.models import NotificationKind, SubjectType
from watchparty.notifications.service import Subject, notify
from watchparty.parties.authz import (
    PartyAccess,
    load_party,
    parse_id,
    require_member,
    require_not_ended,
)
from watchparty.parties.events import party_channel
from watchparty.parties.models import MemberRole, MemberStatus, PartyMember, PollPolicy
from watchparty.polls.errors import PollClosed
from watchparty.polls.events import PollChanged
from watchparty.polls.models import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    OPTION_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    Poll,
    PollBallot,
    PollOption,
)
from watchparty.polls.payloads import poll_payload

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

POLL_NOT_FOUND = "Poll not found."
MAX_OPEN_DAYS = 7
CLOSE_JOB = "close_due_poll"


@dataclass
class PollDraft:
    question: str
    options: list[str]
    allows_multiple: bool = False
    closes_at: datetime | None = None


@dataclass
class PollResult:
    poll: dict[str, Any]  # `poll_payload`
    my_option_ids: list[str] = field(default_factory=list)


def close_job_id(poll_id: uuid.UUID) -> str:
    return f"{CLOSE_JOB}:{poll_id}"


def _check_draft(draft: PollDraft, now: datetime) -> PollDraft:
    question = draft.question.strip()
    if not 1 <= len(question) <= QUESTION_MAX_LENGTH:
        raise ValidationProblem(
            f"The question must be 1 to {QUESTION_MAX_LENGTH} characters.", field="question"
        )
    if not MIN_OPTIONS <= len(draft.options) <= MAX_OPTIONS:
        raise ValidationProblem(
            f"A poll has {MIN_OPTIONS} to {MAX_OPTIONS} options.", field="options"
        )
    options = [text.strip() for text in draft.options]
    seen: set[str] = set()
    for number, text in enumerate(options, start=1):
        if not 1 <= len(text) <= OPTION_MAX_LENGTH:
            raise ValidationProblem(
                f"Option {number} must be 1 to {OPTION_MAX_LENGTH} characters.", field="options"
            )
        if text.casefold() in seen:
            raise ValidationProblem(f"Option {number} repeats another one.", field="options")
        seen.add(text.casefold())
    closes_at = draft.closes_at
    if closes_at is not None:
        if closes_at.tzinfo is None:
            closes_at = closes_at.replace(tzinfo=UTC)
        if closes_at <= now:
            raise ValidationProblem("The closing time must be in the future.", field="closesAt")
        if closes_at > now + timedelta(days=MAX_OPEN_DAYS):
            raise ValidationProblem(
                f"A poll stays open at most {MAX_OPEN_DAYS} days.", field="closesAt"
            )
    return PollDraft(question, options, draft.allows_multiple, closes_at)


async def _options(session: AsyncSession, poll_id: uuid.UUID) -> list[PollOption]:
    rows = await session.scalars(
        select(PollOption)
        .where(PollOption.poll_id == poll_id)
        .order_by(PollOption.position)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def _payload(session: AsyncSession, poll: Poll, options: Sequence[PollOption]) -> Any:
    creator = None
    if poll.created_by_id is not None:
        creator = await session.get(User, poll.created_by_id)
    return poll_payload(poll, options, creator)


async def create_poll(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, draft: PollDraft
) -> PollResult:
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    member = require_member(access)
    require_not_ended(access.party)
    if access.party.poll_policy is PollPolicy.MODERATORS and not access.at_least(
        MemberRole.MODERATOR
    ):
        raise NotAllowed("Only a moderator or above can create polls in this party.")
    now = utcnow()
    clean = _check_draft(draft, now)
    poll = Poll(
        id=uuid.uuid4(),
        party_id=access.party.id,
        question=clean.question,
        allows_multiple=clean.allows_multiple,
        closes_at=clean.closes_at,
        created_by_id=member.user_id,
        total_voters=0,
        created_at=now,
        updated_at=now,
    )
    session.add(poll)
    options = [
        PollOption(id=uuid.uuid4(), poll_id=poll.id, position=index, text=text, votes=0)
        for index, text in enumerate(clean.options)
    ]
    session.add_all(options)
    await session.flush()
    payload = await _payload(session, poll, options)
    await record(uow, party_channel(poll.party_id), PollChanged(poll=payload))
    await _tell_members(uow, access.party.id, access.party.title, poll)
    if clean.closes_at is not None:
        enqueue_after_commit(
            uow,
            uow.app.jobs,
            CLOSE_JOB,
            job_id=close_job_id(poll.id),
            defer_seconds=(clean.closes_at - utcnow()).total_seconds(),
            poll_id=str(poll.id),
        )
    return PollResult(poll=payload)


async def _tell_members(uow: UnitOfWork, party_id: uuid.UUID, title: str, poll: Poll) -> None:
    """POLL_OPENED to the party's active members but the creator (`notify` skips the actor)."""
    members = await uow.session.scalars(
        select(PartyMember.user_id).where(
            PartyMember.party_id == party_id, PartyMember.status == MemberStatus.ACTIVE
        )
    )
    await notify(
        uow,
        list(members),
        NotificationKind.POLL_OPENED,
        actor_id=poll.created_by_id,
        subject=Subject(SubjectType.PARTY, str(party_id)),
        data={"partyId": str(party_id), "partyTitle": title, "question": poll.question},
        group_key=f"poll-opened:{party_id}",
    )


async def _load_for(
    session: AsyncSession, raw_poll_id: str, viewer_id: uuid.UUID
) -> tuple[Poll, PartyAccess]:
    """The poll and the viewer's access to its party; NotFound when either is invisible."""
    poll_id = parse_id(raw_poll_id)
    poll = None if poll_id is None else await session.get(Poll, poll_id)
    if poll is None:
        raise NotFound(POLL_NOT_FOUND, field="pollId")
    try:
        access = await load_party(session, poll.party_id, viewer_id)
    except NotFound:
        raise NotFound(POLL_NOT_FOUND, field="pollId") from None
    return poll, access


async def lock_poll(session: AsyncSession, poll: Poll) -> Poll:
    """Lock the poll row (see the module docstring) and return it re-read."""
    await session.execute(
        update(Poll)
        .where(Poll.id == poll.id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    locked = await session.scalar(
        select(Poll).where(Poll.id == poll.id).execution_options(populate_existing=True)
    )
    if locked is None:  # deleted with its party meanwhile
        raise NotFound(POLL_NOT_FOUND, field="pollId")
    return locked


def _chosen(poll: Poll, options: Sequence[PollOption], raw_ids: Sequence[str]) -> list[str]:
    """The chosen option ids in option order; ValidationProblem for a bad choice."""
    by_id = {str(option.id): option for option in options}
    parsed = [parse_id(raw) for raw in raw_ids]
    ids = [str(p) for p in parsed if p is not None]
    if len(ids) != len(raw_ids) or any(i not in by_id for i in ids):
        raise ValidationProblem("Choose among this poll's options.", field="optionIds")
    if len(set(ids)) != len(ids):
        raise ValidationProblem("Choose each option at most once.", field="optionIds")
    if not poll.allows_multiple and len(ids) > 1:
        raise ValidationProblem("This poll takes exactly one option.", field="optionIds")
    return sorted(ids, key=lambda i: by_id[i].position)


async def vote_poll(
    uow: UnitOfWork, viewer_id: uuid.UUID, raw_poll_id: str, option_ids: list[str]
) -> PollResult:
    session = uow.session
    poll, access = await _load_for(session, raw_poll_id, viewer_id)
    require_member(access)
    require_not_ended(access.party)
    poll = await lock_poll(session, poll)
    closed_at = poll.closed_by(utcnow())
    if closed_at is not None:
        raise PollClosed(closed_at)
    options = await _options(session, poll.id)
    chosen = _chosen(poll, options, option_ids)
    ballot = await session.scalar(
        select(PollBallot).where(PollBallot.poll_id == poll.id, PollBallot.user_id == viewer_id)
    )
    before = [] if ballot is None else list(ballot.option_ids)
    if before == chosen:
        return PollResult(poll=await _payload(session, poll, options), my_option_ids=chosen)
    for option in options:
        option.votes += (str(option.id) in chosen) - (str(option.id) in before)
    now = utcnow()
    if ballot is None:
        session.add(PollBallot(poll_id=poll.id, user_id=viewer_id, option_ids=chosen))
        poll.total_voters += 1
    elif not chosen:
        await session.delete(ballot)
        poll.total_voters -= 1
    else:
        ballot.option_ids = chosen
        ballot.updated_at = now
    await session.flush()
    payload = await _payload(session, poll, options)
    await record(uow, party_channel(poll.party_id), PollChanged(poll=payload))
    tracking.track(uow, "poll.vote", user_id=viewer_id, party_id=poll.party_id)
    return PollResult(poll=payload, my_option_ids=chosen)


async def close_poll(uow: UnitOfWork, viewer_id: uuid.UUID, raw_poll_id: str) -> PollResult:
    """Close now. Closing a closed poll changes nothing and answers the poll as it is."""
    session = uow.session
    poll, access = await _load_for(session, raw_poll_id, viewer_id)
    member = require_member(access)
    if poll.created_by_id != member.user_id and not access.at_least(MemberRole.MODERATOR):
        raise NotAllowed("Only the poll's creator or a moderator and above can close it.")
    require_not_ended(access.party)
    poll = await lock_poll(session, poll)
    result = await close_locked(uow, poll, utcnow())
    mine = await session.scalar(
        select(PollBallot.option_ids).where(
            PollBallot.poll_id == poll.id, PollBallot.user_id == viewer_id
        )
    )
    result.my_option_ids = list(mine or [])
    return result


async def close_locked(uow: UnitOfWork, poll: Poll, now: datetime) -> PollResult:
    """Record the close of a locked poll (at `closes_at` when that has passed, else `now`),
    unless it is recorded already. Whoever closes it checked who may: `close_poll`, or the
    closing job."""
    session = uow.session
    options = await _options(session, poll.id)
    if poll.closed_at is not None:
        return PollResult(poll=await _payload(session, poll, options))
    poll.closed_at = poll.closed_by(now) or now
    await session.flush()
    payload = await _payload(session, poll, options)
    await record(uow, party_channel(poll.party_id), PollChanged(poll=payload))
    return PollResult(poll=payload)
