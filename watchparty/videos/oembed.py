"""The `fetch_external_metadata` job: title, duration and thumbnail of an external video.

Asks the provider's oEmbed endpoint (OEMBED_*_URL settings, so tests use a loopback server) with
`?url=<source>&format=json`. Idempotent: it re-reads the row and only fills what the owner has
not set (the title is replaced only while it is still the placeholder). A provider that answers
4xx (private, removed or unknown video) leaves the video as it is; network errors and 5xx are
retried with backoff a few times, then given up (the video stays playable without metadata).
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from typing import TYPE_CHECKING, Any

import httpx
from arq import Retry

from watchparty.config import Settings
from watchparty.videos.external import embed_parent, placeholder_title, recognise
from watchparty.videos.models import (
    KEY_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Video,
    VideoProvider,
)

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 256 * 1024
MAX_TRIES = 4
RETRY_BASE_SECONDS = 5.0  # then 10, 20 s


def endpoint(settings: Settings, provider: VideoProvider) -> str:
    return {
        VideoProvider.YOUTUBE: settings.oembed_youtube_url,
        VideoProvider.VIMEO: settings.oembed_vimeo_url,
        VideoProvider.TWITCH: settings.oembed_twitch_url,
    }.get(provider, "")


class TransientError(Exception):
    """Worth trying again later (network trouble, 5xx, 429)."""


async def fetch_oembed(url: str, source_url: str) -> dict[str, Any] | None:
    """The provider's JSON answer; None when it has nothing for this video (4xx, not JSON)."""
    params = {"url": source_url, "format": "json"}
    try:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=True) as client,
            client.stream("GET", url, params=params) as response,
        ):
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientError(f"oEmbed answered {response.status_code}")
            if response.status_code != 200:
                return None
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    return None
    except httpx.HTTPError as exc:
        raise TransientError(f"oEmbed request failed: {type(exc).__name__}") from exc
    try:
        data = json.loads(bytes(body))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def apply_oembed(video: Video, data: dict[str, Any], placeholder: str) -> None:
    """Copy what is usable; ignore wrong types and odd values rather than fail."""
    title = data.get("title")
    if isinstance(title, str) and title.strip() and video.title == placeholder:
        video.title = " ".join(title.split())[:TITLE_MAX_LENGTH]
    duration = data.get("duration")
    if (
        isinstance(duration, int | float)
        and not isinstance(duration, bool)
        and math.isfinite(duration)
        and duration > 0
        and video.duration_seconds is None
    ):
        video.duration_seconds = float(duration)
    thumbnail = data.get("thumbnail_url")
    if (
        isinstance(thumbnail, str)
        and thumbnail.startswith("https://")
        and len(thumbnail) <= KEY_MAX_LENGTH
        and video.thumbnail_key is None
    ):
        video.thumbnail_key = thumbnail  # external videos: the provider's thumbnail URL


async def fetch_external_metadata(ctx: dict[str, Any], video_id: str) -> str:
    state: AppState = ctx["state"]
    async with state.sessionmaker() as session:
        video = await session.get(Video, uuid.UUID(video_id))
        if video is None or video.deleted_at is not None or video.source_url is None:
            return "gone"
        provider, source_url = video.provider, video.source_url
    url = endpoint(state.settings, provider)
    if not url:
        return "no endpoint"
    try:
        data = await fetch_oembed(url, source_url)
    except TransientError as exc:
        tries = int(ctx.get("job_try") or 1)
        if tries >= MAX_TRIES:
            log.warning("oEmbed gave up", extra={"video_id": video_id, "reason": str(exc)})
            return "gave up"
        raise Retry(defer=RETRY_BASE_SECONDS * 2 ** (tries - 1)) from exc
    if data is None:
        return "unavailable"
    placeholder = placeholder_title(
        recognise(source_url, embed_parent=embed_parent(state.settings))
    )
    async with state.unit_of_work() as uow:
        video = await uow.session.get(Video, uuid.UUID(video_id))
        if video is None or video.deleted_at is not None:
            return "gone"
        apply_oembed(video, data, placeholder)
    return "done"
