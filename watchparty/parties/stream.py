"""The party stream: `record_event` (write side), `publish_presence`, and `partyEvents`.

Write side: events are stored payload dicts whose keys are the GraphQL field names of their
`PartyEventUnion` member (see `stream_types`), so a subscriber renders them without reading the
database. They are appended to the channel `party:<uuid>` in the caller's unit of work and
announced to every process only after the commit (`watchparty.realtime`): a rolled-back change
publishes nothing.

Read side (`partyEvents(partyId, after)`):
- The first item is always a `PartySnapshot`, read after subscribing (so nothing falls between
  it and the events). Its cursor is where the events continue: the client's own `after` when
  that is still retained (`resync: false`, the missed events follow in order), else the current
  head (`resync: true`: no replay; malformed and future cursors are treated the same way).
- Who may follow: active members, and signed-in viewers of a PUBLIC party. Otherwise the
  stream ends at once with a GraphQL error whose `extensions.code` is NOT_FOUND (PRIVATE or
  missing: the same answer), NOT_AUTHENTICATED or NOT_ALLOWED. Subscriptions cannot return the
  mutations' error unions, so errors that end a stream are GraphQL errors with a code.
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
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Coroutine, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError

from watchparty.chat import events as chat_events
from watchparty.context import Info
from watchparty.gql.frames import current_slot
from watchparty.polls import events as poll_events
from watchparty.reactions import events as reaction_events
from watchparty.realtime import (
    EventRecord,
    HubClosed,
    ResyncRequired,
    Subscription,
    append_event,
    publish_after_commit,
)
from watchparty.voice import events as voice_events

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.parties.stream_types import PartyEvent
    from watchparty.state import AppState

# Stored event types (the union members). PresenceChanged is ephemeral and never stored. Other
# domains add theirs in their `events` module (see `watchparty/chat/events.py`).
_DOMAINS = (chat_events, poll_events, reaction_events, voice_events)
STORED_EVENT_TYPES = frozenset(
    {
        "PlaybackChanged",
        "QueueChanged",
        "MemberJoined",
        "MemberLeft",
        "MemberUpdated",
        "PartyUpdated",
        "PartyEnded",
        "MembershipRevoked",
    }
).union(*(domain.STORED for domain in _DOMAINS))
EPHEMERAL_EVENT_TYPES = frozenset({"PresenceChanged"}).union(
    *(domain.EPHEMERAL for domain in _DOMAINS)
)
REVOKE_REASONS = frozenset({"KICKED", "BANNED", "PARTY_DELETED"})


def party_channel(party_id: uuid.UUID | str) -> str:
    return f"party:{party_id}"


async def record_event(
    uow: UnitOfWork, state: AppState, party_id: uuid.UUID, event: Mapping[str, Any]
) -> EventRecord:
    """Append `event` to the party's stream in `uow` and publish it once `uow` commits.

    `event["type"]` names the union member; the other keys are that member's GraphQL fields with
    payload dicts as values (`parties.payloads`, e.g. `playback_payload`), e.g.
    `{"type": "PlaybackChanged", "playback": playback_payload(...)}`. `MembershipRevoked` carries
    `userId` (the member whose streams end) and `reason`; without `userId` it ends every stream
    of the party (a deleted party).
    """
    kind = event.get("type")
    if kind not in STORED_EVENT_TYPES:
        raise ValueError(f"unknown party event type {kind!r}")
    if kind == "MembershipRevoked" and event.get("reason") not in REVOKE_REASONS:
        raise ValueError(f"MembershipRevoked needs a reason in {sorted(REVOKE_REASONS)}")
    record = await append_event(uow.session, party_channel(party_id), dict(event))
    publish_after_commit(uow, state.hub, record)
    return record


async def publish_ephemeral_event(
    state: AppState, party_id: uuid.UUID, event: Mapping[str, Any]
) -> bool:
    """Fan out an ephemeral event (typing, live reactions, voice...): no cursor, never stored or
    replayed, not tied to a transaction. Best effort: False when the broadcast is unavailable."""
    if event.get("type") not in EPHEMERAL_EVENT_TYPES:
        raise ValueError(f"unknown ephemeral party event type {event.get('type')!r}")
    return await state.hub.publish_ephemeral(party_channel(party_id), dict(event))


async def publish_presence(
    state: AppState, party_id: uuid.UUID, user_id: uuid.UUID, online: bool
) -> bool:
    """Fan out an ephemeral `PresenceChanged` (not stored: no cursor, no replay). Best effort."""
    event = {"type": "PresenceChanged", "userId": str(user_id), "online": online}
    return await publish_ephemeral_event(state, party_id, event)


# -- the read side: the partyEvents subscription -----------------------------------------------


def stream_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    """An error that ends a stream; `extensions.code` tells the client what to do."""
    return GraphQLError(message, extensions={"code": code, **extensions})


async def _authorize(state: AppState, raw_party_id: str, viewer_id: uuid.UUID | None) -> Any:
    """The viewer's `PartyAccess`, or the stream error a client gets instead."""
    from watchparty.errors import NotFound
    from watchparty.parties.authz import load_party, may_read_content

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


def membership_news(payload: Mapping[str, Any], user_id: uuid.UUID | None) -> bool | None:
    """What a party event says about `user_id`'s active membership: False when it ends (revoked
    for them or for everybody, left, or no longer ACTIVE), True when active (again), None when
    the event is not about them. Streams follow their viewer with it, without database reads."""
    me = None if user_id is None else str(user_id)
    kind = payload.get("type")
    if kind == "MembershipRevoked":
        target = payload.get("userId")
        return False if target is None or str(target) == me else None
    if kind == "MemberLeft":
        return False if me is not None and str(payload.get("userId")) == me else None
    if kind in ("MemberJoined", "MemberUpdated"):
        member = payload.get("member") or {}
        if me is not None and str((member.get("user") or {}).get("id")) == me:
            return member.get("status") == "ACTIVE"
    return None


class _Viewer:
    """What the stream tracks about its viewer as events go by (no database reads)."""

    def __init__(self, user_id: uuid.UUID | None, is_member: bool, visibility: str) -> None:
        self.user_id = user_id
        self.is_member = is_member
        self.visibility = visibility

    def may_view(self) -> bool:
        return self.is_member or (self.user_id is not None and self.visibility == "PUBLIC")


async def _open(state: AppState, channel: str, cursor: int | None) -> tuple[Subscription, bool]:
    """Enter a subscription after `cursor`; past retention, one from now flagged `resync`."""
    try:
        try:
            subscription = state.hub.subscribe(channel, after=cursor)
            await subscription.__aenter__()
            return subscription, False
        except ResyncRequired:
            subscription = state.hub.subscribe(channel, after=None)
            await subscription.__aenter__()
            return subscription, True
    except HubClosed:
        raise stream_error(
            "The server is shutting down; reconnect with your cursor.", "STREAM_CLOSED"
        ) from None


async def party_event_stream(
    info: Info, raw_party_id: str, after: str | None
) -> AsyncGenerator[Any, None]:
    """The `partyEvents` source stream (see `PartySubscriptions.party_events`)."""
    from watchparty.parties.presence import get_keeper
    from watchparty.parties.stream_types import parse_cursor
    from watchparty.realtime import SubscriberOverflow

    context = info.context
    state: AppState = context.state
    viewer = await context.viewer()
    viewer_id = None if viewer is None else viewer.id
    access = await _authorize(state, raw_party_id, viewer_id)
    party_id: uuid.UUID = access.party.id
    channel = party_channel(party_id)
    cache = get_event_cache(state)
    me = _Viewer(viewer_id, access.is_member, access.party.visibility.value)
    # A stream lives for hours: keep ids and flags, not ORM objects (nor the loaders' caches).
    del access, viewer
    keeper = get_keeper(state)
    slot = current_slot.get()  # set on a WebSocket: shared frames are written directly
    held = None
    requested = parse_cursor(after)
    try:
        while True:  # once, plus once per resync
            subscription, resync = await _open(state, channel, requested)
            try:
                # The snapshot is read after subscribing: anything it misses comes as an event.
                snapshot, fresh = await _snapshot(
                    state, party_id, viewer_id, subscription.after, resync
                )
                me.is_member, me.visibility = fresh.is_member, fresh.party.visibility.value
                if held is None and me.is_member and viewer_id is not None:
                    held = await keeper.hold(party_id, viewer_id)  # the snapshot shows us online
                yield snapshot
                if slot is not None:
                    slot.cursor = snapshot.cursor  # written: logged if the socket stalls
                del snapshot, fresh
                context.renew_loaders()
                async for delivery in subscription:
                    payload = delivery.payload
                    kind = payload.get("type")
                    if kind == "MembershipRevoked":
                        if (
                            payload.get("reason") == "PARTY_DELETED"
                            or membership_news(payload, me.user_id) is False
                        ):
                            event = cache.get(channel, party_id, delivery)
                            if event is not None:
                                yield event
                            return
                        continue
                    event = cache.get(channel, party_id, delivery)
                    if event is not None and (
                        slot is None or not await slot.send_shared(event.shared_frames)
                    ):
                        try:
                            yield event
                        finally:
                            if slot is not None:
                                slot.release()
                    if slot is not None and event is not None and event.cursor is not None:
                        slot.cursor = event.cursor
                    # Follow the viewer's own membership and the party's visibility.
                    news = membership_news(payload, me.user_id)
                    if news is not None:
                        me.is_member = news
                    elif kind == "PartyUpdated":
                        me.visibility = (payload.get("party") or {}).get(
                            "visibility", me.visibility
                        )
                    if not me.may_view():
                        return
                    if held is None and me.is_member and viewer_id is not None:
                        held = await keeper.hold(party_id, viewer_id)
                    elif held is not None and not me.is_member:
                        await keeper.release(held)
                        held = None
            except ResyncRequired:
                requested = -1  # fell into a trimmed gap: start over with a fresh snapshot
                continue
            except SubscriberOverflow as exc:
                raise stream_error(
                    "The stream fell behind; resume from `cursor`.",
                    "STREAM_OVERFLOW",
                    cursor=str(exc.cursor),
                ) from None
            except HubClosed:
                raise stream_error(
                    "The server is shutting down; reconnect with your cursor.", "STREAM_CLOSED"
                ) from None
            finally:
                await subscription.__aexit__(None, None, None)
    finally:
        if held is not None:
            # Strawberry cancels the operation task when the client goes away; finish the
            # bookkeeping in a task of its own so a second cancellation cannot cut it short.
            _spawn(keeper.release(held))


async def _snapshot(
    state: AppState, party_id: uuid.UUID, viewer_id: uuid.UUID | None, seq: int, resync: bool
) -> tuple[PartyEvent, Any]:
    from watchparty.kit.time import utcnow
    from watchparty.parties.stream_types import PartyEvent, PartySnapshot, format_cursor
    from watchparty.parties.types import Party

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


EVENT_CACHE_KEY = "party_event_cache"


def get_event_cache(state: AppState) -> Any:
    """This process's `EventCache` of rendered party events."""
    from watchparty.parties.stream_types import EventCache

    cache = state.extras.get(EVENT_CACHE_KEY)
    if cache is None:
        cache = state.extras[EVENT_CACHE_KEY] = EventCache()
    return cache


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
    ) -> AsyncGenerator[
        Annotated[PartyEvent, strawberry.lazy("watchparty.parties.stream_types")], None
    ]:
        stream = party_event_stream(info, str(party_id), after)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()
