"""Composes every domain's Query, Mutation and Subscription fields into one schema, and the
fields domains contribute to another domain's types (`Party.messages` is chat's, `User.
entitlements` billing's) and streams (`notificationEvents` carries billing's items)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from watchparty.accounts.resolvers import AccountMutations, AccountQueries
from watchparty.accounts.types import User
from watchparty.analytics import types as analytics_types
from watchparty.analytics.ingest_resolvers import IngestMutations, use_raw_arguments
from watchparty.analytics.resolvers import (
    AnalyticsMutations,
    AnalyticsPartyFields,
    AnalyticsQueries,
    AnalyticsSubscriptions,
    AnalyticsUserFields,
    AnalyticsVideoFields,
)
from watchparty.billing import types as billing_types
from watchparty.billing.checkout_resolvers import CheckoutMutations
from watchparty.billing.resolvers import BillingQueries, BillingUserFields
from watchparty.chat.moderation_resolvers import ModerationMutations, ModerationQueries
from watchparty.chat.party_fields import ChatModerationPartyFields, ChatPartyFields
from watchparty.chat.resolvers import ChatMutations, ChatQueries
from watchparty.client_config import ClientConfigQueries
from watchparty.config import Settings
from watchparty.gql.cost import bound_list
from watchparty.gql.errors import UserError
from watchparty.gql.extend import extend_type, widen_union
from watchparty.gql.extensions import schema_extensions
from watchparty.gql.inputs import guard_arguments
from watchparty.gql.scalars import SCALAR_OVERRIDES
from watchparty.gql.sharing import SharedEventExecutor
from watchparty.notifications import stream_types as notification_stream
from watchparty.notifications.push_resolvers import PushMutations, PushQueries
from watchparty.notifications.resolvers import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscriptions,
)
from watchparty.parties.invitation_resolvers import InvitationMutations
from watchparty.parties.playback_resolvers import PlaybackMutations, PlaybackQueries
from watchparty.parties.resolvers import PartyMutations, PartyQueries
from watchparty.parties.types import Party
from watchparty.party_stream.subscription import PartySubscriptions
from watchparty.polls.party_fields import PollPartyFields
from watchparty.polls.resolvers import PollMutations, PollQueries
from watchparty.reactions.party_fields import ReactionPartyFields
from watchparty.reactions.resolvers import ReactionMutations, ReactionQueries
from watchparty.search import types as search_types
from watchparty.search.resolvers import SearchQueries
from watchparty.videos.external_resolvers import ExternalVideoMutations
from watchparty.videos.processing_resolvers import ProcessingSubscriptions
from watchparty.videos.resolvers import VideoMutations, VideoQueries
from watchparty.videos.types import Video
from watchparty.voice.party_fields import VoicePartyFields
from watchparty.voice.resolvers import VoiceMutations, VoiceQueries, VoiceSubscriptions

# Other domains' fields of Party, after its own, in this order (the order of schema.graphql).
extend_type(
    Party,
    ChatPartyFields,
    ChatModerationPartyFields,
    PollPartyFields,
    ReactionPartyFields,
    VoicePartyFields,
    AnalyticsPartyFields,
)
# Billing's fields of User (`me.subscription`, `me.entitlements`), then analytics' (`me.stats`,
# `me.isStaff`).
extend_type(User, BillingUserFields, AnalyticsUserFields)
# Analytics' field of Video (`video.analytics`, its owner's).
extend_type(Video, AnalyticsVideoFields)
# Billing's items of the per-user stream (`notificationEvents`).
widen_union(notification_stream.NotificationEvent, "event", *billing_types.STREAM_TYPES)
notification_stream.use_renderers(billing_types.RENDERERS)
for type_name, field_name, bound in (
    *billing_types.BOUNDED_LISTS,
    *analytics_types.BOUNDED_LISTS,
    *search_types.BOUNDED_LISTS,
):
    bound_list(type_name, field_name, bound)


@strawberry.type
class Query(
    AccountQueries,
    PlaybackQueries,
    PartyQueries,
    ChatQueries,
    ModerationQueries,
    PollQueries,
    ReactionQueries,
    VoiceQueries,
    VideoQueries,
    NotificationQueries,
    PushQueries,
    BillingQueries,
    ClientConfigQueries,
    AnalyticsQueries,
    SearchQueries,
):
    pass


@strawberry.type
class Mutation(
    AccountMutations,
    PlaybackMutations,
    PartyMutations,
    InvitationMutations,
    ChatMutations,
    ModerationMutations,
    PollMutations,
    ReactionMutations,
    VoiceMutations,
    VideoMutations,
    ExternalVideoMutations,
    NotificationMutations,
    PushMutations,
    CheckoutMutations,
    IngestMutations,
    AnalyticsMutations,
):
    pass


@strawberry.type
class Subscription(
    PartySubscriptions,
    VoiceSubscriptions,
    ProcessingSubscriptions,
    NotificationSubscriptions,
    AnalyticsSubscriptions,
):
    pass


class WatchPartySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry logs every error at ERROR, client mistakes included. Ours are logged once:
        unexpected ones by the masking extension (with their correlation id), client errors not
        at all (they are the client's answer, not an operator's problem)."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    extensions: list[Any] = schema_extensions(settings) if settings is not None else []
    schema = WatchPartySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[UserError],
        extensions=extensions,
        execution_context_class=SharedEventExecutor,  # party events: execute once per selection
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
    )
    use_raw_arguments(schema._schema)  # trackEvents reads its events without conversion
    guard_arguments(schema._schema)  # no NUL, C0 control or lone surrogate reaches a resolver
    return schema


def export_sdl() -> str:
    """The SDL committed as schema.graphql (no runtime extensions affect it)."""
    return build_schema().as_str() + "\n"
