"""External sources: recognise a URL as YouTube, Vimeo, Twitch, a direct MP4 or an HLS stream.

`recognise(url)` is pure (table-tested); `add_external_video` stores a READY video at once (there
is nothing of ours to process) and enqueues `fetch_external_metadata` (`oembed.py`) to fill the
title, duration and thumbnail from the provider. Adding the same source twice returns the
owner's existing video instead of a duplicate.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import select

from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.errors import ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.videos.models import (
    TITLE_MAX_LENGTH,
    URL_MAX_LENGTH,
    Video,
    VideoProvider,
    VideoStatus,
    VideoVisibility,
)

OEMBED_JOB = "fetch_external_metadata"

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_YOUTUBE_PATHS = ("shorts", "embed", "live", "v")
_TWITCH_CHANNEL = re.compile(r"^[A-Za-z0-9_]{3,25}$")
# First path parts of twitch.tv pages that are not channels.
_TWITCH_RESERVED = {"directory", "downloads", "jobs", "p", "search", "settings", "subscriptions"}
_TWITCH_RESERVED |= {"turbo", "videos", "clip", "clips", "wallet", "inventory", "drops", "login"}


@dataclass(frozen=True, slots=True)
class Source:
    provider: VideoProvider
    url: str  # as given (normalised scheme and host case only)
    external_id: str | None
    embed_url: str | None
    is_live: bool = False

    def placeholder_title(self) -> str:
        """The title until the oEmbed job (or the owner) sets a better one."""
        if self.provider in (VideoProvider.MP4, VideoProvider.HLS):
            name = urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1]
            return name[:TITLE_MAX_LENGTH] or self.url[:TITLE_MAX_LENGTH]
        label = self.provider.value.title().replace("Youtube", "YouTube")
        return f"{label} {'channel' if self.is_live else 'video'} {self.external_id}"


def _invalid(message: str) -> ValidationProblem:
    return ValidationProblem(message, field="url")


def recognise(url: str, *, embed_parent: str = "localhost") -> Source:
    """The source behind `url`; ValidationProblem(field "url") for anything else.

    `embed_parent` is the frontend's host name: Twitch's player refuses to load without it.
    """
    text = url.strip()
    if not text:
        raise _invalid("Enter a video link.")
    if len(text) > URL_MAX_LENGTH:
        raise _invalid(f"Links are at most {URL_MAX_LENGTH} characters.")
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
    query = parse_qs(parts.query)
    source = _provider(text, host, path, query, embed_parent)
    if source is None:
        raise _invalid(
            "Unsupported link: use YouTube, Vimeo or Twitch, or a direct .mp4 or .m3u8 link."
        )
    return source


def _provider(
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
        return Source(VideoProvider.MP4, url, None, None)
    if last.endswith(".m3u8"):
        return Source(VideoProvider.HLS, url, None, None)
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
    return Source(
        VideoProvider.YOUTUBE, url, candidate, f"https://www.youtube.com/embed/{candidate}"
    )


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
    secret = rest[0] if len(rest) == 1 and re.fullmatch(r"[0-9a-f]{6,20}", rest[0]) else None
    secret = secret or query.get("h", [""])[0] or None
    if secret is not None:
        if not re.fullmatch(r"[0-9a-f]{6,20}", secret):
            return None
        embed += f"?h={secret}"
    return Source(VideoProvider.VIMEO, url, video_id, embed)


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
        return Source(VideoProvider.TWITCH, url, path[1], embed)
    if len(path) == 1 and _TWITCH_CHANNEL.match(path[0]) and path[0] not in _TWITCH_RESERVED:
        channel = path[0].lower()
        embed = f"https://player.twitch.tv/?channel={channel}{suffix}"
        return Source(VideoProvider.TWITCH, url, channel, embed, is_live=True)
    return None


def embed_parent(settings: Settings) -> str:
    return urlsplit(settings.frontend_url).hostname or "localhost"


async def add_external_video(uow: UnitOfWork, viewer_id: uuid.UUID, url: str) -> Video:
    """A READY video for `url` owned by the viewer (the existing one when already added)."""
    source = recognise(url, embed_parent=embed_parent(uow.app.settings))
    same = (
        Video.external_id == source.external_id
        if source.external_id is not None
        else Video.source_url == source.url
    )
    existing = await uow.session.scalar(
        select(Video).where(
            Video.owner_id == viewer_id,
            Video.provider == source.provider,
            Video.is_live == source.is_live,  # a Twitch channel named like a VOD id
            Video.deleted_at.is_(None),
            same,
        )
    )
    if existing is not None:
        return existing
    video = Video(
        owner_id=viewer_id,
        title=source.placeholder_title(),
        status=VideoStatus.READY,
        visibility=VideoVisibility.PRIVATE,
        provider=source.provider,
        external_id=source.external_id,
        source_url=source.url,
        embed_url=source.embed_url,
        is_live=source.is_live,
        renditions=[],
    )
    uow.session.add(video)
    await uow.session.flush()
    if source.provider not in (VideoProvider.MP4, VideoProvider.HLS):
        enqueue_after_commit(
            uow,
            uow.app.jobs,
            OEMBED_JOB,
            job_id=f"{OEMBED_JOB}:{video.id}",
            video_id=str(video.id),
        )
    return video
