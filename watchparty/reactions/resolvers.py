"""Query, Mutation and Subscription fields of this domain. Thin: unpack the input, call one
service function, map the result (see `parties.playback_resolvers`)."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReactionQueries:
    pass


@strawberry.type
class ReactionMutations:
    pass
