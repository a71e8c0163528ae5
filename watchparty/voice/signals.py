"""WebRTC signaling relay: `sendSignal` to one member, `signals(partyId)` for the recipient only.

Signals travel as ephemeral messages on a channel of their own per (party, recipient), so nobody
else's stream ever carries them (not even the recipient's `partyEvents`). They are not stored:
a recipient who is not listening at that moment misses them, as WebRTC negotiation expects (the
peers restart the offer/answer exchange).

Who: sender and recipient are active members; the recipient is not the sender. A recipient who is
not an active member is `NotFound` (field `toUserId`): the sender is a member, so this tells
them nothing they could not read from `party.members`. While Redis is unavailable a signal cannot
be relayed: `ServiceUnavailable`. Rate limited per sender and party
(`rate_limit_signals`).

A payload is a JSON object (`RTCSessionDescription.toJSON()`, `RTCIceCandidate.toJSON()`), opaque
to the server beyond its shape: at most `MAX_PAYLOAD_DEPTH` levels deep and `MAX_PAYLOAD_BYTES`
of UTF-8 as compact JSON, no NaN or Infinity. Anything else is a `ValidationError` on `payload`.

The `signals` stream is for active members only and ends when the member leaves, is kicked or
banned, or the party is deleted: it watches the party channel for those events (subscribed before
the membership check, so nothing falls in between).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from watchparty.errors import NotFound, ServiceUnavailable, ValidationProblem
from watchparty.events import publish
from watchparty.gql.streams import stream_error
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import epoch_ms
from watchparty.parties.authz import load_party, parse_id, require_member, require_not_ended
from watchparty.parties.events import membership_news, party_channel
from watchparty.realtime import Delivery, HubClosed, ResyncRequired, SubscriberOverflow
from watchparty.voice.errors import RecipientNotFound
from watchparty.voice.events import SignalSent, signal_channel
from watchparty.voice.service import active_member_ids, member_access

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.realtime import Subscription
    from watchparty.state import AppState

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_PAYLOAD_DEPTH = 8  # {"a": {"b": 1}} is 2 deep; an SDP or ICE candidate object is 1


class SignalKind(StrEnum):
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    ICE_CANDIDATE = "ICE_CANDIDATE"


@dataclass(frozen=True, slots=True)
class SignalMessage:
    from_user_id: str
    kind: SignalKind
    payload: dict[str, Any]
    sent_ms: float

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.sent_ms / 1000, UTC)

    @classmethod
    def from_event(cls, event: SignalSent) -> SignalMessage:
        return cls(
            from_user_id=event.from_user_id,
            kind=SignalKind(event.kind),
            payload=dict(event.payload),
            sent_ms=float(event.sent_at_ms),
        )


def _too_deep(value: object, limit: int) -> bool:
    """Whether `value` nests objects/arrays more than `limit` levels (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def check_payload(payload: object) -> dict[str, Any]:
    """The payload as relayed, or a `ValidationProblem` on `payload` (see the module docstring)."""
    if not isinstance(payload, dict):
        raise ValidationProblem(
            "A signal payload is a JSON object, such as RTCSessionDescription.toJSON().",
            field="payload",
        )
    if _too_deep(payload, MAX_PAYLOAD_DEPTH):
        raise ValidationProblem(
            f"A signal payload nests at most {MAX_PAYLOAD_DEPTH} levels.", field="payload"
        )
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError):  # NaN/Infinity, or a lone surrogate (UnicodeEncodeError)
        raise ValidationProblem(
            "A signal payload must be plain JSON (no NaN, Infinity or unpaired surrogates).",
            field="payload",
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationProblem(
            f"A signal payload is at most {MAX_PAYLOAD_BYTES} bytes of UTF-8 as compact JSON.",
            field="payload",
        )
    return payload


async def send_signal(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    raw_party_id: str,
    raw_to_user_id: str,
    kind: SignalKind,
    payload: object,
) -> SignalMessage:
    """Relay one signal to `raw_to_user_id`'s `signals` streams (best effort, not stored)."""
    session, state = uow.session, uow.app
    access = await member_access(session, raw_party_id, viewer_id)
    party_id = access.party.id
    require_not_ended(access.party)
    relayed = check_payload(payload)
    recipient = parse_id(raw_to_user_id)
    if recipient == viewer_id:
        raise ValidationProblem("You cannot send a signal to yourself.", field="toUserId")
    await state.limiter.hit(
        f"signal:{party_id}:{viewer_id}", Limit.parse(state.settings.rate_limit_signals)
    )
    if recipient is None or not await active_member_ids(session, party_id, [recipient]):
        raise RecipientNotFound()
    message = SignalMessage(str(viewer_id), kind, relayed, epoch_ms())
    published = await publish(
        state.hub,
        signal_channel(party_id, recipient),
        SignalSent(
            from_user_id=message.from_user_id,
            kind=message.kind.value,
            payload=message.payload,
            sent_at_ms=message.sent_ms,
        ),
    )
    if not published:  # Redis unavailable: the recipient cannot get it; the sender may retry
        raise ServiceUnavailable(state.redis_retry_after_seconds())
    return message


# -- the read side ------------------------------------------------------------------------------


async def _authorize(state: AppState, raw_party_id: str, viewer_id: uuid.UUID | None) -> uuid.UUID:
    """The party id when the viewer is an active member; the stream error otherwise (the same
    codes and messages as the mutations: NOT_FOUND, NOT_AUTHENTICATED, NOT_ALLOWED)."""
    from watchparty.errors import NotAllowed

    async with state.sessionmaker() as session:
        try:
            access = await load_party(session, raw_party_id, viewer_id)
            if viewer_id is None:
                raise stream_error("You need to sign in.", "NOT_AUTHENTICATED")
            require_member(access)
        except NotFound as exc:
            raise stream_error(exc.message, "NOT_FOUND") from None
        except NotAllowed as exc:
            raise stream_error(exc.message, "NOT_ALLOWED") from None
    return access.party.id


async def _entered(state: AppState, channel: str) -> Subscription:
    try:
        subscription = state.hub.subscribe(channel, after=None)
        await subscription.__aenter__()
    except HubClosed:
        raise _closed() from None
    return subscription


def _closed() -> GraphQLError:
    return stream_error("The server is shutting down; reconnect.", "STREAM_CLOSED")


async def signal_stream(
    state: AppState, raw_party_id: str, viewer_id: uuid.UUID | None
) -> AsyncGenerator[SignalMessage, None]:
    """The `signals` source stream (see `VoiceSubscriptions.signals`)."""
    pid = parse_id(raw_party_id)
    if pid is None:
        raise stream_error("Party not found.", "NOT_FOUND")
    if viewer_id is None:
        await _authorize(state, raw_party_id, None)  # NOT_FOUND or NOT_AUTHENTICATED
        return
    # Subscribe first, then check: a revocation after the check arrives as an event.
    party = await _entered(state, party_channel(pid))
    try:
        signals = await _entered(state, signal_channel(pid, viewer_id))
        try:
            await _authorize(state, raw_party_id, viewer_id)
            async with aclosing(_merged(signals, party)) as deliveries:
                async for source, delivery in deliveries:
                    if source is party:
                        if membership_news(delivery.payload, viewer_id) is False:
                            return
                    elif isinstance(delivery.payload, SignalSent):
                        yield SignalMessage.from_event(delivery.payload)
        except SubscriberOverflow:
            raise stream_error("The stream fell behind; reconnect.", "STREAM_OVERFLOW") from None
        except HubClosed:
            raise _closed() from None
        finally:
            await signals.__aexit__(None, None, None)
    finally:
        await party.__aexit__(None, None, None)


async def _merged(
    *subscriptions: Subscription,
) -> AsyncGenerator[tuple[Subscription, Delivery], None]:
    """Deliveries of several subscriptions as they come, tagged with their source.

    A party channel that skipped events (`ResyncRequired`) may have skipped a revocation: the
    stream ends with STREAM_OVERFLOW and the client reconnects (which re-checks membership).
    """
    pending: dict[asyncio.Future[Delivery], Subscription] = {
        asyncio.ensure_future(anext(s)): s for s in subscriptions
    }
    try:
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                source = pending.pop(future)
                try:
                    delivery = future.result()
                except ResyncRequired:
                    raise stream_error(
                        "The stream fell behind; reconnect.", "STREAM_OVERFLOW"
                    ) from None
                pending[asyncio.ensure_future(anext(source))] = source
                yield source, delivery
    finally:
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
