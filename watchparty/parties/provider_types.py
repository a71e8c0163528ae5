"""GraphQL face of the streaming-provider registry (`parties.providers`): the registry's entries
(`clientConfig.providers`) and what one queue item plays (`QueueItem.provider`)."""

from __future__ import annotations

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.parties.providers import PROVIDERS, PlayerType, Provider, ProviderType, Source

strawberry.enum(
    ProviderType,
    name="ProviderType",
    description="A streaming provider a party can play (Twitch live channels and VODs apart).",
)
strawberry.enum(
    PlayerType,
    name="PlayerType",
    description="The player component to render: YOUTUBE (IFrame API), VIMEO (player.js), "
    "TWITCH (Twitch embed) on embedUrl; VIDEO (an HTML video element) on the item's url; HLS "
    "(hls.js) on the item's .m3u8 url, or on Video.hlsUrl for uploads.",
)


@same_for_every_viewer()
@strawberry.type(description="One streaming provider a party can play, and what its player can do.")
class StreamingProvider:
    type: ProviderType
    name: str = strawberry.field(description="A label to show.")
    player: PlayerType
    supports_seek: bool = strawberry.field(description="The player can seek precisely (sync).")
    supports_rate: bool = strawberry.field(description="The player can change its playback rate.")
    is_live: bool = strawberry.field(description="A live stream: no timeline to follow.")
    accepts_links: bool = strawberry.field(
        description="Links to it are accepted by addExternalVideo and media: {url} (false for "
        "uploads, played by videoId)."
    )
    link_examples: list[str] = strawberry.field(description="The shapes of links it recognises.")

    @classmethod
    def of(cls, provider: Provider) -> StreamingProvider:
        return cls(
            type=provider.type,
            name=provider.name,
            player=provider.player,
            supports_seek=provider.supports_seek,
            supports_rate=provider.supports_rate,
            is_live=provider.is_live,
            accepts_links=provider.accepts_links,
            link_examples=list(provider.examples),
        )


def streaming_providers() -> list[StreamingProvider]:
    return [StreamingProvider.of(p) for p in PROVIDERS.values()]


@same_for_every_viewer()
@strawberry.type(description="How to play one queue item: render the player for `player`.")
class MediaProvider:
    type: ProviderType
    player: PlayerType
    embed_url: str | None = strawberry.field(
        description="The iframe URL for YOUTUBE, VIMEO and TWITCH players; null otherwise."
    )
    external_id: str | None = strawberry.field(
        description="The provider's video id or Twitch channel; null for files and uploads."
    )
    supports_seek: bool
    supports_rate: bool
    is_live: bool

    @classmethod
    def of(cls, source: Source) -> MediaProvider:
        p = source.provider
        return cls(
            type=p.type,
            player=p.player,
            embed_url=source.embed_url,
            external_id=source.external_id,
            supports_seek=p.supports_seek,
            supports_rate=p.supports_rate,
            is_live=p.is_live,
        )
