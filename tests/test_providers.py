"""The streaming-provider registry: URL recognition (every accepted form with its exact embed URL,
every refusal) as a table, and the same rules through `media: {url}`, `addExternalVideo` and
`QueueItem.provider` over GraphQL."""

from __future__ import annotations

import pytest

from tests.parties_ops import person
from tests.playback_ops import create_party, queue_op
from tests.support import Api
from watchparty.errors import ValidationProblem
from watchparty.parties.providers import ProviderType as VideoProvider
from watchparty.parties.providers import recognise
from watchparty.videos.external import placeholder_title
from watchparty.videos.external import recognise as recognise_external

YT = "https://www.youtube.com/embed/dQw4w9WgXcQ"

ACCEPTED = [
    (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        VideoProvider.YOUTUBE,
        "dQw4w9WgXcQ",
        YT,
        False,
    ),
    (
        "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42",
        VideoProvider.YOUTUBE,
        "dQw4w9WgXcQ",
        YT,
        False,
    ),
    ("https://m.youtube.com/watch?v=dQw4w9WgXcQ", VideoProvider.YOUTUBE, "dQw4w9WgXcQ", YT, False),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", VideoProvider.YOUTUBE, "dQw4w9WgXcQ", YT, False),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", VideoProvider.YOUTUBE, "dQw4w9WgXcQ", YT, False),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", VideoProvider.YOUTUBE, "dQw4w9WgXcQ", YT, False),
    ("https://www.youtube.com/live/dQw4w9WgXcQ", VideoProvider.YOUTUBE, "dQw4w9WgXcQ", YT, False),
    (
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        VideoProvider.YOUTUBE,
        "dQw4w9WgXcQ",
        YT,
        False,
    ),
    (
        "HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ",
        VideoProvider.YOUTUBE,
        "dQw4w9WgXcQ",
        YT,
        False,
    ),
    (
        "https://vimeo.com/76979871",
        VideoProvider.VIMEO,
        "76979871",
        "https://player.vimeo.com/video/76979871",
        False,
    ),
    (
        "https://vimeo.com/channels/staffpicks/76979871",
        VideoProvider.VIMEO,
        "76979871",
        "https://player.vimeo.com/video/76979871",
        False,
    ),
    (
        "https://vimeo.com/76979871/1a2b3c4d5e",
        VideoProvider.VIMEO,
        "76979871",
        "https://player.vimeo.com/video/76979871?h=1a2b3c4d5e",
        False,
    ),
    (
        "https://player.vimeo.com/video/76979871?h=1a2b3c4d5e",
        VideoProvider.VIMEO,
        "76979871",
        "https://player.vimeo.com/video/76979871?h=1a2b3c4d5e",
        False,
    ),
    (
        "https://www.twitch.tv/videos/1234567890",
        VideoProvider.TWITCH_VOD,
        "1234567890",
        "https://player.twitch.tv/?video=1234567890&parent=app.example.com",
        False,
    ),
    (
        "https://www.twitch.tv/Some_Streamer",
        VideoProvider.TWITCH_LIVE,
        "some_streamer",
        "https://player.twitch.tv/?channel=some_streamer&parent=app.example.com",
        True,
    ),
    (
        "https://m.twitch.tv/some_streamer/",
        VideoProvider.TWITCH_LIVE,
        "some_streamer",
        "https://player.twitch.tv/?channel=some_streamer&parent=app.example.com",
        True,
    ),
    ("https://cdn.example.com/films/big%20buck.mp4", VideoProvider.MP4, None, None, False),
    ("http://cdn.example.com/clip.M4V?sig=1", VideoProvider.MP4, None, None, False),
    ("https://cdn.example.com/live/master.m3u8", VideoProvider.HLS, None, None, False),
]


@pytest.mark.parametrize(("url", "provider", "external_id", "embed", "live"), ACCEPTED)
def test_recognised(
    url: str, provider: VideoProvider, external_id: str | None, embed: str | None, live: bool
) -> None:
    source = recognise(url, embed_parent="app.example.com")
    assert (source.provider.type, source.external_id, source.embed_url, source.is_live) == (
        provider,
        external_id,
        embed,
        live,
    )
    assert source.url == url


REFUSED = [
    ("", "Enter a video link."),
    ("   ", "Enter a video link."),
    ("dQw4w9WgXcQ", "Enter a full http(s) link to a video."),
    ("ftp://cdn.example.com/a.mp4", "Enter a full http(s) link to a video."),
    ("javascript:alert(1)//a.mp4", "Enter a full http(s) link to a video."),
    ("https://", "Enter a full http(s) link to a video."),
    ("https://cdn.example.com/a b.mp4", "Enter a full http(s) link to a video."),
    ("https://cdn.example.com:99999/a.mp4", "This is not a valid link."),
    (
        "https://user:pw@cdn.example.com/a.mp4",
        "Links with a user name or password are not accepted.",
    ),
]
UNSUPPORTED = [
    "https://www.youtube.com/watch?v=short",
    "https://www.youtube.com/watch",
    "https://www.youtube.com/@somechannel",
    "https://youtu.be/",
    "https://youtu.be/dQw4w9WgXcQ/extra",
    "https://vimeo.com/about",
    "https://vimeo.com/76979871?h=NOT-HEX",
    "https://player.vimeo.com/76979871",
    "https://www.twitch.tv/directory",
    "https://www.twitch.tv/videos/abc",
    "https://clips.twitch.tv/SomeClip",
    "https://www.twitch.tv/a",
    "https://example.com/page.html",
    "https://example.com/",
    "https://example.com/video.mp4.html",
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ValidationProblem) as caught:
        recognise(url)
    assert (caught.value.field, caught.value.message) == ("url", message)


@pytest.mark.parametrize("url", UNSUPPORTED)
def test_unsupported(url: str) -> None:
    with pytest.raises(ValidationProblem) as caught:
        recognise(url)
    assert caught.value.field == "url"
    assert caught.value.message == (
        "Unsupported link: use YouTube, Vimeo or Twitch, or a direct .mp4 or .m3u8 link."
    )


def test_library_links_are_bounded_by_their_column() -> None:
    with pytest.raises(ValidationProblem) as caught:
        recognise_external("https://" + "a" * 2000 + ".com/a.mp4")
    assert (caught.value.field, caught.value.message) == (
        "url",
        "Links are at most 2000 characters.",
    )


def test_placeholder_titles() -> None:
    assert placeholder_title(recognise("https://youtu.be/dQw4w9WgXcQ")) == (
        "YouTube video dQw4w9WgXcQ"
    )
    assert placeholder_title(recognise("https://www.twitch.tv/somebody")) == (
        "Twitch channel somebody"
    )
    assert placeholder_title(recognise("https://cdn.example.com/x/film.mp4?a=1")) == "film.mp4"


PROVIDER = "provider { type player embedUrl externalId supportsSeek supportsRate isLive }"
UNSUPPORTED_MESSAGE = (
    "Unsupported link: use YouTube, Vimeo or Twitch, or a direct .mp4 or .m3u8 link."
)


async def test_queue_items_say_how_to_play_them(any_api: Api) -> None:
    """`QueueItem.provider` (queue and the current item) renders from the same registry; the
    Twitch parent is the frontend's host (FRONTEND_URL: localhost in tests)."""
    party = await create_party(any_api, media={"url": "https://www.twitch.tv/videos/42"})
    for url in ("https://youtu.be/dQw4w9WgXcQ", "https://cdn.example.com/live/master.m3u8"):
        added = await queue_op(
            any_api, "addToQueue", party.id, party.host.token, media={"url": url}
        )
        assert added["__typename"] == "QueuePayload", added
    result = await any_api.gql(
        f"""query($id: ID!) {{ party(id: $id) {{ playback {{ item {{ {PROVIDER} }} }}
            queue(first: 10) {{ {PROVIDER} }} }} }}""",
        {"id": party.id},
    )
    party_data = result.data["party"]
    twitch = {
        "type": "TWITCH_VOD",
        "player": "TWITCH",
        "embedUrl": "https://player.twitch.tv/?video=42&parent=localhost",
        "externalId": "42",
        "supportsSeek": True,
        "supportsRate": False,
        "isLive": False,
    }
    assert party_data["playback"]["item"]["provider"] == twitch
    assert [item["provider"] for item in party_data["queue"]] == [
        twitch,
        {
            "type": "YOUTUBE",
            "player": "YOUTUBE",
            "embedUrl": "https://www.youtube.com/embed/dQw4w9WgXcQ",
            "externalId": "dQw4w9WgXcQ",
            "supportsSeek": True,
            "supportsRate": True,
            "isLive": False,
        },
        {
            "type": "HLS",
            "player": "HLS",
            "embedUrl": None,
            "externalId": None,
            "supportsSeek": True,
            "supportsRate": True,
            "isLive": False,
        },
    ]


async def test_unsupported_links_are_refused_everywhere(any_api: Api) -> None:
    host = await person(any_api)
    created = await any_api.gql(
        """mutation($input: CreatePartyInput!) { createParty(input: $input) {
            __typename ... on UserError { code message field } } }""",
        {"input": {"title": "t", "media": {"url": "https://example.com/page.html"}}},
        token=host.token,
    )
    assert created.data["createParty"] == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": UNSUPPORTED_MESSAGE,
        "field": "media.url",
    }
    added = await any_api.gql(
        """mutation($input: AddExternalVideoInput!) { addExternalVideo(input: $input) {
            __typename ... on UserError { code message field } } }""",
        {"input": {"url": "https://vimeo.com/about"}},
        token=host.token,
    )
    assert added.data["addExternalVideo"] == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": UNSUPPORTED_MESSAGE,
        "field": "url",
    }
