"""Live reactions: checks, the rate limit, the counters, and the ephemeral `ReactionSent`.

A reaction is never stored as a row: it is counted (see `reactions.models`) in the mutation's
transaction and fanned out as an ephemeral event once that commits (no cursor, no replay). The
service takes the unit of work first, then the acting user's id (`watchparty.db`).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts.models import User
from watchparty.errors import ValidationProblem
from watchparty.events import publish
from watchparty.kit.emoji import is_allowed_emoji
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.parties.authz import load_party, require_member, require_not_ended
from watchparty.parties.events import party_channel
from watchparty.parties.models import QueueItem
from watchparty.parties.payloads import iso, user_payload
from watchparty.reactions.errors import ReactionsDisabled
from watchparty.reactions.events import ReactionSent
from watchparty.reactions.models import BUCKET_SECONDS, ReactionBucket, ReactionTotal

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_POSITION_SECONDS = 1_000_000.0  # ~11 days: no video is longer; keeps buckets in an Integer


@dataclass
class ReactionDraft:
    emoji: str
    video_position_seconds: float
    x: float
    y: float


def _check(draft: ReactionDraft) -> None:
    if not is_allowed_emoji(draft.emoji):
        raise ValidationProblem("This emoji is not allowed (see allowedEmoji).", field="emoji")
    position = draft.video_position_seconds
    if not (math.isfinite(position) and 0 <= position <= MAX_POSITION_SECONDS):
        raise ValidationProblem(
            f"The position must be 0 to {MAX_POSITION_SECONDS:g} seconds.",
            field="videoPositionSeconds",
        )
    for name, value in (("x", draft.x), ("y", draft.y)):
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValidationProblem(f"{name} must be between 0 and 1.", field=name)


async def _increment(
    session: AsyncSession, model: type[ReactionTotal | ReactionBucket], keys: dict[str, Any]
) -> None:
    """`count + 1` for the row with `keys`, created at 1: one atomic statement."""
    columns, bump = list(keys), {"count": model.count + 1}
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(model).values(**keys, count=1)
        await session.execute(pg.on_conflict_do_update(index_elements=columns, set_=bump))
    else:
        lite = sqlite.insert(model).values(**keys, count=1)
        await session.execute(lite.on_conflict_do_update(index_elements=columns, set_=bump))


async def send_reaction(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, draft: ReactionDraft
) -> dict[str, Any]:
    """Count the reaction and fan it out after the commit; returns its payload."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    require_member(access)
    party = access.party
    require_not_ended(party)
    if not party.reactions_enabled:
        raise ReactionsDisabled()
    _check(draft)
    app = uow.app
    limit = Limit.parse(app.settings.rate_limit_reactions)
    await app.limiter.hit(f"reaction:{party.id}:{viewer_id}", limit)
    await _increment(session, ReactionTotal, {"party_id": party.id, "emoji": draft.emoji})
    video_id = None
    if party.current_item_id is not None:
        video_id = await session.scalar(
            select(QueueItem.video_id).where(QueueItem.id == party.current_item_id)
        )
        bucket = int(draft.video_position_seconds // BUCKET_SECONDS)
        await _increment(
            session,
            ReactionBucket,
            {
                "party_id": party.id,
                "item_id": party.current_item_id,
                "bucket": bucket,
                "emoji": draft.emoji,
            },
        )
    user = await session.scalar(select(User).where(User.id == viewer_id))
    assert user is not None  # the viewer was authenticated by this request
    payload = {
        "id": str(uuid.uuid4()),
        "emoji": draft.emoji,
        "user": user_payload(user),
        "itemId": None if party.current_item_id is None else str(party.current_item_id),
        "videoPositionSeconds": draft.video_position_seconds,
        "x": draft.x,
        "y": draft.y,
        "sentAt": iso(utcnow()),
    }
    event = ReactionSent(reaction=payload)
    target = party.id

    async def fan_out() -> None:
        await publish(app.hub, party_channel(target), event)

    uow.after_commit(fan_out)
    tracking.track(
        uow,
        "reaction.send",
        user_id=viewer_id,
        party_id=party.id,
        video_id=video_id,
        position_seconds=draft.video_position_seconds,
        emoji=draft.emoji,
    )
    return payload
