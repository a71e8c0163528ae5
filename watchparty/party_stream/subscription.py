"""`partyEvents(partyId, after)`: the party stream as a GraphQL subscription.

- The first item is always a `PartySnapshot`, read after subscribing (so nothing falls between
  it and the events). Its cursor is where the events continue: the client's own `after` when
  that is still retained (`resync: false`, the missed events follow in order), else the current
  head (`resync: true`: no replay; malformed and future cursors are treated the same way).
- Who may follow: active members, and signed-in viewers of a PUBLIC party. Otherwise the
  stream ends at once with a GraphQL error whose `extensions.code` is NOT_FOUND (PRIVATE or
  missing: the same answer), NOT_AUTHENTICATED or NOT_ALLOWED.
- `MembershipRevoked` reaches only the streams of its `userId` (every stream for
  PARTY_DELETED), which then complete. A viewer who can no longer see the party (left a
  PRIVATE party, or a PUBLIC one turned PRIVATE) is let go after the event that says so.
- Falling more than the queue behind ends the stream with STREAM_OVERFLOW and
  `extensions.cursor` (the last event delivered): reconnect with `after: cursor`. A server
  shutting down ends it with STREAM_CLOSED.
- A client that stops reading its socket cannot read STREAM_OVERFLOW either (it would wait
  behind the unread bytes): the server aborts such a connection (`http.ws_transport`), and the
  client reconnects with `after:` the last cursor it read.
- While an active member holds the stream they are online (`parties.presence`).

Replay, resync and overflow are `watchparty.events.follow`'s; what is particular to a party is
who may follow, the snapshot, and following the viewer's membership as events go by.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing
from typing import Any

import strawberry

from watchparty.context import Info
from watchparty.errors import NotFound
from watchparty.events import (
    Arrival,
    Opened,
    StreamEnded,
    follow,
    format_cursor,
    parse_cursor,
)
from watchparty.gql.frames import current_slot
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.gql.streams import ended_error, stream_error
from watchparty.kit.time import utcnow
from watchparty.parties.authz import PartyAccess, load_party, may_read_content
from watchparty.parties.events import (
    MembershipRevoked,
    PartyUpdated,
    membership_news,
    party_channel,
)
from watchparty.parties.presence import get_keeper
from watchparty.parties.types import Party
from watchparty.party_stream.render import get_event_cache
from watchparty.party_stream.types import PartyEvent, PartySnapshot
from watchparty.realtime import DirectJob
from watchparty.state import AppState


async def _authorize(
    state: AppState, raw_party_id: str, viewer_id: uuid.UUID | None
) -> PartyAccess:
    """The viewer's `PartyAccess`, or the stream error a client gets instead."""
    async with state.sessionmaker() as session:
        try:
            access = await load_party(session, raw_party_id, viewer_id)
        except NotFound as exc:
            raise stream_error(exc.message, "NOT_FOUND") from None
    signed_in = viewer_id is not None
    if not may_read_content(access.party.visibility, access.row, signed_in=signed_in):
        if viewer_id is None:
            raise stream_error("You need to sign in.", "NOT_AUTHENTICATED")
        raise stream_error("Only members of this party can follow it.", "NOT_ALLOWED")
    return access


class _Viewer:
    """What the stream tracks about its viewer as events go by (no database reads)."""

    def __init__(self, user_id: uuid.UUID | None, is_member: bool, visibility: str) -> None:
        self.user_id = user_id
        self.is_member = is_member
        self.visibility = visibility

    def may_view(self) -> bool:
        return self.is_member or (self.user_id is not None and self.visibility == "PUBLIC")


async def party_event_stream(
    info: Info, raw_party_id: str, after: str | None
) -> AsyncGenerator[Any, None]:
    """The `partyEvents` source stream (see `PartySubscriptions.party_events`)."""
    context = info.context
    state: AppState = context.state
    viewer = await context.viewer()
    viewer_id = None if viewer is None else viewer.id
    access = await _authorize(state, raw_party_id, viewer_id)
    party_id: uuid.UUID = access.party.id
    cache = get_event_cache(state)
    me = _Viewer(viewer_id, access.is_member, access.party.visibility.value)
    # A stream lives for hours: keep ids and flags, not ORM objects (nor the loaders' caches).
    del access, viewer
    keeper = get_keeper(state)
    slot = current_slot.get()  # set on a WebSocket: shared frames are written directly
    held = None

    def direct(item: Arrival) -> DirectJob | bool | None:
        """The channel reader writes events that leave the viewer's state alone (membership,
        visibility) straight to the socket while this stream waits (`gql.frames`)."""
        event = item.event
        if (
            slot is None
            or event is None
            or isinstance(event, MembershipRevoked | PartyUpdated)
            or membership_news(event, me.user_id) is not None
        ):
            return None
        rendered = cache.get(party_id, item)
        return None if rendered is None else slot.direct_job(rendered)

    try:
        items = follow(
            state.hub,
            party_channel(party_id),
            parse_cursor(after),
            direct=None if slot is None else direct,
        )
        async with aclosing(items):
            async for item in items:
                if isinstance(item, Opened):
                    # The snapshot is read after subscribing: anything it misses comes as an event.
                    snapshot, fresh = await _snapshot(
                        state, party_id, viewer_id, item.after, item.resync
                    )
                    me.is_member, me.visibility = fresh.is_member, fresh.party.visibility.value
                    if held is None and me.is_member and viewer_id is not None:
                        held = await keeper.hold(
                            party_id, viewer_id
                        )  # the snapshot shows us online
                    yield snapshot
                    if slot is not None:
                        slot.cursor = snapshot.cursor  # written: logged if the socket stalls
                    del snapshot, fresh
                    context.renew_loaders()
                    continue
                event = item.event
                if isinstance(event, MembershipRevoked):
                    if (
                        event.reason == "PARTY_DELETED"
                        or membership_news(event, me.user_id) is False
                    ):
                        rendered = cache.get(party_id, item)
                        if rendered is not None:
                            yield rendered
                        return
                    continue
                rendered = cache.get(party_id, item)
                if rendered is not None and (slot is None or not await slot.send_shared(rendered)):
                    try:
                        yield rendered
                    finally:
                        if slot is not None:
                            slot.release()
                if slot is not None and rendered is not None and rendered.cursor is not None:
                    slot.cursor = rendered.cursor
                # Follow the viewer's own membership and the party's visibility.
                news = membership_news(event, me.user_id)
                if news is not None:
                    me.is_member = news
                elif isinstance(event, PartyUpdated):
                    me.visibility = event.party.get("visibility", me.visibility)
                if not me.may_view():
                    return
                if held is None and me.is_member and viewer_id is not None:
                    held = await keeper.hold(party_id, viewer_id)
                elif held is not None and not me.is_member:
                    await keeper.release(held)
                    held = None
    except StreamEnded as ended:
        raise ended_error(ended) from None
    finally:
        if held is not None:
            # Strawberry cancels the operation task when the client goes away; finish the
            # bookkeeping in a task of its own so a second cancellation cannot cut it short.
            _spawn(keeper.release(held))


async def _snapshot(
    state: AppState, party_id: uuid.UUID, viewer_id: uuid.UUID | None, seq: int, resync: bool
) -> tuple[PartyEvent, PartyAccess]:
    # Re-read (after subscribing) and re-check: the party may have changed or gone meanwhile.
    access = await _authorize(state, str(party_id), viewer_id)
    event = PartyEvent(
        cursor=format_cursor(seq),
        occurred_at=utcnow(),
        resync=resync,
        event=PartySnapshot(party=Party.from_model(access.party)),
    )
    return event, access


_background: set[asyncio.Task[None]] = set()


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


@same_for_every_viewer("party_events")
@strawberry.type
class PartySubscriptions:
    @strawberry.subscription(
        description="The party's ordered event stream: a PartySnapshot first, then every change "
        "with a cursor. Reconnect with `after: <last cursor>` to receive exactly the events "
        "missed (after a snapshot with `resync: false`); when they are no longer retained the "
        "snapshot says `resync: true`. The stream ends with an error whose `extensions.code` "
        "is NOT_FOUND / NOT_AUTHENTICATED / NOT_ALLOWED (cannot follow this party), "
        "STREAM_OVERFLOW (fell behind: resume from `extensions.cursor`) or STREAM_CLOSED "
        "(server shutting down: reconnect with your cursor); it completes after "
        "MembershipRevoked."
    )
    async def party_events(
        self, info: Info, party_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[PartyEvent, None]:
        stream = party_event_stream(info, str(party_id), after)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()
