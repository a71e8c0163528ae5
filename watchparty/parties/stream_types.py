"""GraphQL types of the party stream, rendered from stored event payloads (no database reads).

Every union member is built from the payload dict the writer stored (`stream.record_event`), with
the `from_payload` constructors of `parties.types` and `parties.playback_types`. A process renders
each event once and hands the same object to every local subscriber (`EventCache`), and executes
each distinct selection over it once (`SharedEventExecutor`, the schema's execution context): a
party of a thousand members costs one execution per event and selection, not a thousand, and
loader-backed fields (`PartyUpdated.party.memberCount`) read the database once. Selections that
touch viewer-dependent fields (`myMembership`...) are executed per subscriber, as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Union

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from watchparty.chat import events as chat_events
from watchparty.gql.frames import NOT_SHARED, current_slot
from watchparty.polls import events as poll_events
from watchparty.reactions import events as reaction_events
from watchparty.realtime import Delivery
from watchparty.voice import events as voice_events

if TYPE_CHECKING:
    from watchparty.parties.member_types import PartyMember
    from watchparty.parties.playback_types import PlaybackState, QueueItem
    from watchparty.parties.types import Party

log = logging.getLogger(__name__)

PartyT = Annotated["Party", strawberry.lazy("watchparty.parties.types")]
PartyMemberT = Annotated["PartyMember", strawberry.lazy("watchparty.parties.member_types")]
PlaybackStateT = Annotated["PlaybackState", strawberry.lazy("watchparty.parties.playback_types")]
QueueItemT = Annotated["QueueItem", strawberry.lazy("watchparty.parties.playback_types")]


@strawberry.enum(description="Why a member's party stream ended.")
class MembershipRevokedReason(StrEnum):
    KICKED = "KICKED"
    BANNED = "BANNED"
    PARTY_DELETED = "PARTY_DELETED"


@strawberry.type(
    description="The party as it is now: always the first item of a party stream, and again "
    "(with `resync: true`) when the stream cannot replay what the client missed."
)
class PartySnapshot:
    party: PartyT


@strawberry.type(description="The timeline changed (a new revision).")
class PlaybackChanged:
    playback: PlaybackStateT


@strawberry.type(description="The queue changed; `queue` is the whole queue in play order.")
class QueueChanged:
    queue: list[QueueItemT]


@strawberry.type(description="Someone became an active member.")
class MemberJoined:
    member: PartyMemberT


@strawberry.type(description="A member left (or was removed; see MembershipRevoked).")
class MemberLeft:
    user_id: strawberry.ID


@strawberry.type(description="A member's role, status or drift changed.")
class MemberUpdated:
    member: PartyMemberT


@strawberry.type(
    description="A member came online (their first connection holds the stream) or went "
    "offline (their last one let go, or expired). Ephemeral: no cursor, never replayed."
)
class PresenceChanged:
    user_id: strawberry.ID
    online: bool


@strawberry.type(description="The party's title, description, visibility or settings changed.")
class PartyUpdated:
    party: PartyT


@strawberry.type(description="The party ended.")
class PartyEnded:
    party_id: strawberry.ID


@strawberry.type(
    description="The viewer's membership was revoked (or the party deleted); the stream then "
    "completes. Delivered only to the streams it concerns."
)
class MembershipRevoked:
    reason: MembershipRevokedReason


# The event types of other domains (chat, polls, reactions, voice) join the union through their
# `events` module: see `watchparty/chat/events.py` for the contract.
DOMAIN_EVENTS = (chat_events, poll_events, reaction_events, voice_events)
_MEMBERS: tuple[type, ...] = (
    PartySnapshot,
    PlaybackChanged,
    QueueChanged,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    PresenceChanged,
    PartyUpdated,
    PartyEnded,
    MembershipRevoked,
    *(member for domain in DOMAIN_EVENTS for member in domain.EVENT_TYPES),
)
PartyEventUnion = Annotated[Union[_MEMBERS], strawberry.union("PartyEventUnion")]  # type: ignore[valid-type]  # noqa: UP007
_DOMAIN_RENDERERS = {
    kind: render for domain in DOMAIN_EVENTS for kind, render in domain.RENDERERS.items()
}


@strawberry.type(description="One item of a party stream.")
class PartyEvent:
    cursor: str | None = strawberry.field(
        description="Pass the last cursor seen as `after` when reconnecting to get exactly the "
        "missed events. Null for ephemeral events (presence), which are never replayed."
    )
    occurred_at: datetime
    resync: bool = strawberry.field(
        description="True on a snapshot sent because the events after the client's cursor are "
        "no longer retained: replace local state with it."
    )
    event: PartyEventUnion
    # Execution results shared by this process's subscribers with the same selection (see
    # `SharedEventExecutor`); None on items that are not shared (snapshots).
    shared_results: strawberry.Private[dict[Any, Any] | None] = None
    # DataLoaders shared by this process's subscribers rendering this event (`gql.shared`).
    shared_loaders: strawberry.Private[dict[str, Any] | None] = None
    # Encoded `next` payloads per shared selection, written as they are (`gql.frames`).
    shared_frames: strawberry.Private[dict[Any, Any] | None] = None


# -- rendering ---------------------------------------------------------------------------------


def format_cursor(seq: int) -> str:
    return str(seq)


def parse_cursor(cursor: str | None) -> int | None:
    """The seq of a cursor; -1 for a malformed one (which is answered with a resync)."""
    if cursor is None:
        return None
    text = cursor.strip()
    if not text.isdigit() or len(text) > 18:
        return -1
    return int(text)


def render_event(payload: dict[str, Any], party_id: uuid.UUID) -> Any:
    """The union member for a stored or ephemeral payload; None for an unknown type (a newer
    writer's event that this process cannot render is skipped, not fatal)."""
    from watchparty.parties.member_types import PartyMember
    from watchparty.parties.playback_types import PlaybackState, QueueItem
    from watchparty.parties.types import Party

    kind = payload.get("type")
    match kind:
        case "PlaybackChanged":
            return PlaybackChanged(playback=PlaybackState.from_payload(payload["playback"]))
        case "QueueChanged":
            return QueueChanged(queue=[QueueItem.from_payload(i) for i in payload["queue"]])
        case "MemberJoined":
            return MemberJoined(member=PartyMember.from_payload(payload["member"]))
        case "MemberUpdated":
            return MemberUpdated(member=PartyMember.from_payload(payload["member"]))
        case "MemberLeft":
            return MemberLeft(user_id=strawberry.ID(str(payload["userId"])))
        case "PresenceChanged":
            return PresenceChanged(
                user_id=strawberry.ID(str(payload["userId"])), online=bool(payload["online"])
            )
        case "PartyUpdated":
            return PartyUpdated(party=Party.from_payload(payload["party"]))
        case "PartyEnded":
            return PartyEnded(party_id=strawberry.ID(str(party_id)))
        case "MembershipRevoked":
            return MembershipRevoked(reason=MembershipRevokedReason(payload["reason"]))
    render = _DOMAIN_RENDERERS.get(kind)  # type: ignore[arg-type]
    if render is not None:
        return render(payload, party_id)
    log.warning("party event of unknown type skipped", extra={"type": kind})
    return None


class EventCache:
    """Rendered `PartyEvent`s of this process, so N local subscribers share one object.

    Stored events are keyed by (channel, seq) (subscribers replaying from the log decode their
    own copies but still share the rendering); ephemeral ones by the identity of the `Delivery`
    the channel reader fans out (kept alive by the entry, so the id is not reused meanwhile).
    """

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.renders = 0  # how many events were rendered (tests, observability)
        self._entries: OrderedDict[Any, tuple[Delivery, PartyEvent | None]] = OrderedDict()

    def get(self, channel: str, party_id: uuid.UUID, delivery: Delivery) -> PartyEvent | None:
        key: Any = (channel, delivery.seq) if delivery.seq is not None else id(delivery)
        entry = self._entries.get(key)
        if entry is not None and (delivery.seq is not None or entry[0] is delivery):
            self._entries.move_to_end(key)
            return entry[1]
        event = self._render(party_id, delivery)
        self._entries[key] = (delivery, event)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return event

    def _render(self, party_id: uuid.UUID, delivery: Delivery) -> PartyEvent | None:
        self.renders += 1
        try:
            member = render_event(delivery.payload, party_id)
        except (KeyError, TypeError, ValueError):
            log.exception("malformed party event skipped", extra={"seq": delivery.seq})
            return None
        if member is None:
            return None
        return PartyEvent(
            cursor=None if delivery.seq is None else format_cursor(delivery.seq),
            occurred_at=delivery.created_at,
            resync=False,
            event=member,
            shared_results={},
            shared_loaders={},
            shared_frames={},
        )


# -- executing once per selection --------------------------------------------------------------

# Fields whose value is the same for every viewer allowed to follow the stream. A selection made
# only of these (and __typename) is executed once per event and selection, and the result is
# shared by every local subscriber that sent the same document and variables. Anything else (the
# viewer's own membership, a party's code for non-members, a user's private fields, types added
# later) makes the subscription execute per subscriber, as GraphQL normally does.
_SAME_FOR_EVERY_VIEWER: dict[str, frozenset[str] | None] = {
    "Subscription": frozenset({"partyEvents"}),
    "PartyEvent": frozenset({"cursor", "occurredAt", "resync", "event"}),
    "PartyEventUnion": frozenset(),
    "PlaybackChanged": frozenset({"playback"}),
    "QueueChanged": frozenset({"queue"}),
    "MemberJoined": frozenset({"member"}),
    "MemberLeft": frozenset({"userId"}),
    "MemberUpdated": frozenset({"member"}),
    "PresenceChanged": frozenset({"userId", "online"}),
    "PartyUpdated": frozenset({"party"}),
    "PartyEnded": frozenset({"partyId"}),
    "MembershipRevoked": frozenset({"reason"}),
    **{name: fields for domain in DOMAIN_EVENTS for name, fields in domain.SHARED_FIELDS.items()},
    "PlaybackState": None,  # None: every field
    "QueueItem": None,
    "PartySettings": None,
    "PageInfo": None,
    "PartyMember": frozenset({"user", "role", "status", "online", "joinedAt", "lastDriftMs"}),
    "PartyMemberConnection": frozenset({"edges", "pageInfo", "totalCount"}),
    "PartyMemberEdge": frozenset({"cursor", "node"}),
    "User": frozenset({"id", "displayName", "avatarUrl", "bio", "createdAt"}),
    "Party": frozenset(
        {
            "id",
            "title",
            "description",
            "visibility",
            "status",
            "settings",
            "scheduledStart",
            "startedAt",
            "endedAt",
            "createdAt",
            "host",
            "memberCount",
            "onlineCount",
            "members",
            "playback",
            "queue",
        }
    ),
}
_NOT_SHARED = NOT_SHARED


def _same_for_every_viewer(
    schema: GraphQLSchema,
    parent: GraphQLNamedType | None,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> bool:
    if parent is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            if parent.name not in _SAME_FOR_EVERY_VIEWER:
                return False
            allowed = _SAME_FOR_EVERY_VIEWER[parent.name]
            if allowed is not None and name not in allowed:
                return False
            if selection.selection_set is not None:
                if not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
                    return False
                child = get_named_type(parent.fields[name].type)
                if not _same_for_every_viewer(
                    schema, child, selection.selection_set, fragments, seen
                ):
                    return False
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = schema.get_type(condition.name.value) if condition else parent
            if not _same_for_every_viewer(schema, target, selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return False
            target = schema.get_type(fragment.type_condition.name.value)
            if not _same_for_every_viewer(
                schema, target, fragment.selection_set, fragments, seen | {name}
            ):
                return False
    return True


def _share_key(executor: StrawberryGraphQLCoreExecutionContext) -> Any:
    """(document, operation, variables) when the selection is the same for every viewer."""
    operation = executor.operation
    if operation.operation is not OperationType.SUBSCRIPTION:
        return _NOT_SHARED
    if operation.loc is None:
        return _NOT_SHARED
    if not _same_for_every_viewer(
        executor.schema,
        executor.schema.subscription_type,
        operation.selection_set,
        executor.fragment_definitions,
    ):
        return _NOT_SHARED
    try:
        variables = json.dumps(executor.variable_values.coerced, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return _NOT_SHARED
    name = operation.name.value if operation.name else None
    return (operation.loc.source.body, name, variables)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes a party event once per distinct selection, not once per subscriber.

    GraphQL executes a subscription's selection for every subscriber and every event. For a
    party of a thousand members that is a thousand executions (and the database reads of any
    loader-backed field) of the same selection over the same object. Here, when the rendered
    event (`PartyEvent.shared_results`) already holds the result for the same document and
    variables, and the selection only reads fields that are the same for every viewer, that
    result is reused. Results are awaited through `asyncio.shield`, so one subscriber going away
    never cancels the execution the others wait for.
    """

    _key: Any = None  # computed once per subscription, on the first event

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._key is None:
            self._key = _share_key(self)
            slot = current_slot.get()
            if slot is not None:  # the stream may now write shared frames directly
                slot.share_key = self._key
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        results = getattr(self.root_value, "shared_results", None)
        key = self._key
        if results is None or key is None or key is _NOT_SHARED:
            return super().execute_operation(serially)
        shared = results.get(key)
        if shared is None:
            outcome = super().execute_operation(serially)
            if not self.is_awaitable(outcome):
                if len(results) < MAX_SHARED_SELECTIONS:
                    results[key] = outcome
                return outcome
            shared = asyncio.ensure_future(outcome)
            if len(results) < MAX_SHARED_SELECTIONS:
                results[key] = shared
        if isinstance(shared, asyncio.Future):
            return asyncio.shield(shared)
        return shared


MAX_SHARED_SELECTIONS = 16  # distinct selections kept per event
