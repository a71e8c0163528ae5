"""The streaming providers a party can play: one registry, and the one URL recogniser.

Each provider says how the frontend plays it (`player`: which component to render), whether that
player can follow the party's timeline precisely (`supports_seek`, `supports_rate`), and whether
it is a live stream. `recognise(url)` turns a link into a `Source` (provider, id, embed URL) or a
`ValidationProblem` (field "url"); `addExternalVideo` (videos/external.py), `media: {url}`
(parties/validation.py) and `Party`'s `QueueItem.provider` all go through it, and `clientConfig`
lists `PROVIDERS` for the frontend.

It lives in parties (the lowest domain that plays media) so parties' validation can use it; the
videos domain, built on parties, maps `family` onto its stored `VideoProvider`. No GraphQL here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, quote, urlsplit

from watchparty.errors import ValidationProblem


class ProviderType(StrEnum):
    YOUTUBE = "YOUTUBE"
    VIMEO = "VIMEO"
    TWITCH_LIVE = "TWITCH_LIVE"
    TWITCH_VOD = "TWITCH_VOD"
    MP4 = "MP4"
    HLS = "HLS"
    UPLOAD = "UPLOAD"


class PlayerType(StrEnum):
    """The player component the frontend renders."""

    YOUTUBE = "YOUTUBE"  # the YouTube IFrame Player API on `embedUrl`
    VIMEO = "VIMEO"  # Vimeo's player.js on `embedUrl`
    TWITCH = "TWITCH"  # Twitch's embed (Twitch.Player) on `embedUrl`
    VIDEO = "VIDEO"  # an HTML <video> on the file's URL
    HLS = "HLS"  # hls.js (or native HLS) on a .m3u8 URL: the link, or `Video.hlsUrl` for uploads


@dataclass(frozen=True, slots=True)
class Provider:
    type: ProviderType
    name: str
    player: PlayerType
    supports_seek: bool
    supports_rate: bool
    is_live: bool
    accepts_links: bool  # False: only our own uploads (`media: {videoId}`)
    family: str  # the videos domain's stored `VideoProvider`
    examples: tuple[str, ...] = ()


PROVIDERS: dict[ProviderType, Provider] = {
    p.type: p
    for p in (
        Provider(
            ProviderType.YOUTUBE,
            "YouTube",
            PlayerType.YOUTUBE,
            True,
            True,
            False,
            True,
            "YOUTUBE",
            ("https://www.youtube.com/watch?v=<id>", "https://youtu.be/<id>"),
        ),
        # player.js can seek; a rate change is refused for videos of basic Vimeo accounts.
        Provider(
            ProviderType.VIMEO,
            "Vimeo",
            PlayerType.VIMEO,
            True,
            False,
            False,
            True,
            "VIMEO",
            ("https://vimeo.com/<id>",),
        ),
        Provider(
            ProviderType.TWITCH_LIVE,
            "Twitch (live)",
            PlayerType.TWITCH,
            False,
            False,
            True,
            True,
            "TWITCH",
            ("https://www.twitch.tv/<channel>",),
        ),
        # Twitch's embed can seek a VOD but has no playback rate.
        Provider(
            ProviderType.TWITCH_VOD,
            "Twitch (video)",
            PlayerType.TWITCH,
            True,
            False,
            False,
            True,
            "TWITCH",
            ("https://www.twitch.tv/videos/<id>",),
        ),
        Provider(
            ProviderType.MP4,
            "Video file",
            PlayerType.VIDEO,
            True,
            True,
            False,
            True,
            "MP4",
            ("https://cdn.example.com/film.mp4",),
        ),
        Provider(
            ProviderType.HLS,
            "HLS stream",
            PlayerType.HLS,
            True,
            True,
            False,
            True,
            "HLS",
            ("https://cdn.example.com/master.m3u8",),
        ),
        Provider(
            ProviderType.UPLOAD,
            "Upload",
            PlayerType.HLS,
            True,
            True,
            False,
            False,
            "UPLOAD",
        ),
    )
}

UNSUPPORTED_MESSAGE = (
    "Unsupported link: use YouTube, Vimeo or Twitch, or a direct .mp4 or .m3u8 link."
)

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_YOUTUBE_PATHS = ("shorts", "embed", "live", "v")
_VIMEO_HASH = re.compile(r"[0-9a-f]{6,20}")
_TWITCH_CHANNEL = re.compile(r"^[A-Za-z0-9_]{3,25}$")
# First path parts of twitch.tv pages that are not channels.
_TWITCH_RESERVED = {"directory", "downloads", "jobs", "p", "search", "settings", "subscriptions"}
_TWITCH_RESERVED |= {"turbo", "videos", "clip", "clips", "wallet", "inventory", "drops", "login"}


@dataclass(frozen=True, slots=True)
class Source:
    provider: Provider
    url: str  # as given (stripped)
    external_id: str | None
    embed_url: str | None

    @property
    def is_live(self) -> bool:
        return self.provider.is_live


def upload_source() -> Source:
    """A library upload: played from `Video.hlsUrl`, no embed."""
    return Source(PROVIDERS[ProviderType.UPLOAD], "", None, None)


def _invalid(message: str) -> ValidationProblem:
    return ValidationProblem(message, field="url")


def recognise(url: str, *, embed_parent: str = "localhost") -> Source:
    """The source behind `url`; ValidationProblem(field "url") for anything else.

    `embed_parent` is the frontend's host name: Twitch's player refuses to load without it.
    Callers check the length they store first.
    """
    text = url.strip()
    if not text:
        raise _invalid("Enter a video link.")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower().removeprefix("www.")
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise _invalid("This is not a valid link.") from exc
    if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise _invalid("Enter a full http(s) link to a video.")
    if parts.username is not None or parts.password is not None:
        raise _invalid("Links with a user name or password are not accepted.")
    path = [p for p in parts.path.split("/") if p]
    source = _match(text, host, path, parse_qs(parts.query), embed_parent)
    if source is None:
        raise _invalid(UNSUPPORTED_MESSAGE)
    return source


def _match(
    url: str, host: str, path: list[str], query: dict[str, list[str]], parent: str
) -> Source | None:
    if host in _YOUTUBE_HOSTS or host == "youtu.be":
        return _youtube(url, host, path, query)
    if host in ("vimeo.com", "player.vimeo.com"):
        return _vimeo(url, host, path, query)
    if host in ("twitch.tv", "m.twitch.tv", "player.twitch.tv"):
        return _twitch(url, host, path, query, parent)
    last = path[-1].lower() if path else ""
    if last.endswith((".mp4", ".m4v")):
        return Source(PROVIDERS[ProviderType.MP4], url, None, None)
    if last.endswith(".m3u8"):
        return Source(PROVIDERS[ProviderType.HLS], url, None, None)
    return None


def _youtube(url: str, host: str, path: list[str], query: dict[str, list[str]]) -> Source | None:
    candidate: str | None = None
    if host == "youtu.be":
        candidate = path[0] if len(path) == 1 else None
    elif path == ["watch"]:
        candidate = query.get("v", [""])[0] or None
    elif len(path) == 2 and path[0] in _YOUTUBE_PATHS:
        candidate = path[1]
    if candidate is None or not _YOUTUBE_ID.match(candidate):
        return None
    embed = f"https://www.youtube.com/embed/{candidate}"
    return Source(PROVIDERS[ProviderType.YOUTUBE], url, candidate, embed)


def _vimeo(url: str, host: str, path: list[str], query: dict[str, list[str]]) -> Source | None:
    digits = [i for i, p in enumerate(path) if p.isdigit() and len(p) <= 15]
    if not digits:
        return None
    if host == "player.vimeo.com" and (len(path) != 2 or path[0] != "video"):
        return None
    index = digits[-1]
    video_id = path[index]
    embed = f"https://player.vimeo.com/video/{video_id}"
    # An unlisted video's link carries its hash: vimeo.com/<id>/<hash> or ?h=<hash>.
    rest = path[index + 1 :]
    secret = rest[0] if len(rest) == 1 and _VIMEO_HASH.fullmatch(rest[0]) else None
    secret = secret or query.get("h", [""])[0] or None
    if secret is not None:
        if not _VIMEO_HASH.fullmatch(secret):
            return None
        embed += f"?h={secret}"
    return Source(PROVIDERS[ProviderType.VIMEO], url, video_id, embed)


def _twitch(
    url: str, host: str, path: list[str], query: dict[str, list[str]], parent: str
) -> Source | None:
    suffix = f"&parent={quote(parent)}"
    if host == "player.twitch.tv":
        video = (query.get("video") or [""])[0].removeprefix("v")
        channel = (query.get("channel") or [""])[0]
        path = ["videos", video] if video else [channel] if channel else []
    if len(path) == 2 and path[0] == "videos" and path[1].isdigit():
        embed = f"https://player.twitch.tv/?video={path[1]}{suffix}"
        return Source(PROVIDERS[ProviderType.TWITCH_VOD], url, path[1], embed)
    if len(path) == 1 and _TWITCH_CHANNEL.match(path[0]) and path[0] not in _TWITCH_RESERVED:
        channel = path[0].lower()
        embed = f"https://player.twitch.tv/?channel={channel}{suffix}"
        return Source(PROVIDERS[ProviderType.TWITCH_LIVE], url, channel, embed)
    return None


def embed_parent(frontend_url: str) -> str:
    """The host name Twitch's embed needs as `parent` (the frontend's)."""
    return urlsplit(frontend_url).hostname or "localhost"


def source_of(url: str | None, *, parent: str) -> Source | None:
    """What a stored queue item plays: its link's source, an upload when it has no link, None
    for a link no provider recognises (stored before the registry checked links)."""
    if url is None:
        return upload_source()
    try:
        return recognise(url, embed_parent=parent)
    except ValidationProblem:
        return None
