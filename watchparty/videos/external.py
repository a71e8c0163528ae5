"""External sources: a link to YouTube, Vimeo, Twitch, a direct MP4 or an HLS stream.

`recognise(url)` is the streaming-provider registry's (`parties.providers`, table-tested in
tests/test_providers.py); `add_external_video` stores a READY video at once (there
is nothing of ours to process) and enqueues `fetch_external_metadata` (`oembed.py`) to fill the
title, duration and thumbnail from the provider. Adding the same source twice returns the
owner's existing video instead of a duplicate.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy import select

from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.errors import ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.parties import providers
from watchparty.parties.providers import ProviderType, Source
from watchparty.videos.models import (
    TITLE_MAX_LENGTH,
    URL_MAX_LENGTH,
    Video,
    VideoProvider,
    VideoStatus,
    VideoVisibility,
)

OEMBED_JOB = "fetch_external_metadata"


def video_provider(source: Source) -> VideoProvider:
    """The stored provider of a recognised source (Twitch live and VOD are both TWITCH)."""
    return VideoProvider(source.provider.family)


def placeholder_title(source: Source) -> str:
    """The title until the oEmbed job (or the owner) sets a better one."""
    if source.provider.type in (ProviderType.MP4, ProviderType.HLS):
        name = urlsplit(source.url).path.rstrip("/").rsplit("/", 1)[-1]
        return name[:TITLE_MAX_LENGTH] or source.url[:TITLE_MAX_LENGTH]
    label = source.provider.family.title().replace("Youtube", "YouTube")
    return f"{label} {'channel' if source.is_live else 'video'} {source.external_id}"


def recognise(url: str, *, embed_parent: str = "localhost") -> Source:
    """The registry's source behind `url` (`parties.providers`), within our stored length;
    ValidationProblem(field "url") for anything else."""
    if len(url.strip()) > URL_MAX_LENGTH:
        raise ValidationProblem(f"Links are at most {URL_MAX_LENGTH} characters.", field="url")
    return providers.recognise(url, embed_parent=embed_parent)


def embed_parent(settings: Settings) -> str:
    return providers.embed_parent(settings.frontend_url)


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
            Video.provider == video_provider(source),
            Video.is_live == source.is_live,  # a Twitch channel named like a VOD id
            Video.deleted_at.is_(None),
            same,
        )
    )
    if existing is not None:
        return existing
    video = Video(
        owner_id=viewer_id,
        title=placeholder_title(source),
        status=VideoStatus.READY,
        visibility=VideoVisibility.PRIVATE,
        provider=video_provider(source),
        external_id=source.external_id,
        source_url=source.url,
        embed_url=source.embed_url,
        is_live=source.is_live,
        renditions=[],
    )
    uow.session.add(video)
    await uow.session.flush()
    if source.provider.type not in (ProviderType.MP4, ProviderType.HLS):
        enqueue_after_commit(
            uow,
            uow.app.jobs,
            OEMBED_JOB,
            job_id=f"{OEMBED_JOB}:{video.id}",
            video_id=str(video.id),
        )
    return video
