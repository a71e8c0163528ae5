"""Validation of party input: titles, descriptions, limits, schedule and media (typed errors).

Each check raises `ValidationProblem` with the API field name (`media.url` for nested input).

Library videos (`media: {videoId}`) are the videos domain's to check, and videos is built on
parties, not the reverse: it registers its lookup (`use_library_media`, done by the composition
root `registry.py`). Without one, a `videoId` is refused ("Library videos are not available yet.").
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import ValidationProblem
from watchparty.parties import providers
from watchparty.parties.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, URL_MAX_LENGTH

MIN_MEMBERS = 2
MAX_MEMBERS = 1000
MIN_BUFFERING_TIMEOUT = 1
MAX_BUFFERING_TIMEOUT = 60
MAX_SLOW_MODE_SECONDS = 3600
MAX_SCREEN_SHARES = 10
MAX_SCHEDULE_AHEAD = timedelta(days=365)
MEDIA_TITLE_MAX_LENGTH = TITLE_MAX_LENGTH * 2
MAX_MEDIA_DURATION_SECONDS = 7 * 24 * 3600.0


@dataclass
class Media:
    url: str | None = None
    video_id: str | None = None
    title: str | None = None
    duration_seconds: float | None = None


def clean_title(raw: str, field_name: str = "title") -> str:
    title = " ".join(raw.split())
    if not title:
        raise ValidationProblem("Give the party a title.", field=field_name)
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationProblem(f"At most {TITLE_MAX_LENGTH} characters.", field=field_name)
    return title


def clean_description(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    description = raw.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationProblem(
            f"At most {DESCRIPTION_MAX_LENGTH} characters.", field="description"
        )
    return description


def check_max_members(value: int) -> int:
    if not MIN_MEMBERS <= value <= MAX_MEMBERS:
        raise ValidationProblem(
            f"Between {MIN_MEMBERS} and {MAX_MEMBERS} members.", field="maxMembers"
        )
    return value


def check_buffering_timeout(value: int) -> int:
    if not MIN_BUFFERING_TIMEOUT <= value <= MAX_BUFFERING_TIMEOUT:
        raise ValidationProblem(
            f"Between {MIN_BUFFERING_TIMEOUT} and {MAX_BUFFERING_TIMEOUT} seconds.",
            field="bufferingTimeoutSeconds",
        )
    return value


def check_slow_mode(value: int) -> int:
    if not 0 <= value <= MAX_SLOW_MODE_SECONDS:
        raise ValidationProblem(
            f"Between 0 (off) and {MAX_SLOW_MODE_SECONDS} seconds.", field="seconds"
        )
    return value


def check_max_screen_shares(value: int) -> int:
    if not 1 <= value <= MAX_SCREEN_SHARES:
        raise ValidationProblem(
            f"Between 1 and {MAX_SCREEN_SHARES} screens.", field="maxScreenShares"
        )
    return value


def check_scheduled_start(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # an ISO time without offset is taken as UTC
        value = value.replace(tzinfo=UTC)
    if value - now > MAX_SCHEDULE_AHEAD:
        raise ValidationProblem("At most a year ahead.", field="scheduledStart")
    return value


def check_url(raw: str, field_name: str) -> str:
    url = raw.strip()
    if len(url) > URL_MAX_LENGTH:
        raise ValidationProblem(f"At most {URL_MAX_LENGTH} characters.", field=field_name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValidationProblem("Give an http(s) URL.", field=field_name)
    return url


def check_playable(url: str, field_name: str) -> str:
    """An http(s) URL (`check_url`) that a streaming provider plays (`providers.recognise`)."""
    url = check_url(url, field_name)
    try:
        providers.recognise(url)
    except ValidationProblem as exc:
        raise ValidationProblem(exc.message, field=field_name) from None
    return url


def _title_from_url(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    title = unquote(segments[-1]) if segments else (parts.hostname or url)
    return title[:MEDIA_TITLE_MAX_LENGTH]


# (session, viewer id, media with a video_id, field prefix) -> the checked media.
LibraryMedia = Callable[[AsyncSession, uuid.UUID, Media, str], Awaitable[Media]]

_library_media: list[LibraryMedia] = []  # at most one


def use_library_media(lookup: LibraryMedia) -> None:
    """Check `media: {videoId}` with `lookup` (videos/party_media.py). Registering the same
    lookup again changes nothing; a different one is a wiring mistake."""
    if _library_media and _library_media[0] is not lookup:
        raise RuntimeError("a library media lookup is already registered")
    _library_media[:] = [lookup]


async def check_media_for(
    session: AsyncSession, viewer_id: uuid.UUID, media: Media, prefix: str = "media"
) -> Media:
    """`check_media`, plus library videos the viewer may see (the registered lookup)."""
    if media.video_id is None or media.url is not None or not _library_media:
        return check_media(media, prefix)
    return await _library_media[0](session, viewer_id, media, prefix)


def check_media(media: Media, prefix: str = "media") -> Media:
    """A valid URL item (library videos need `check_media_for`)."""
    if media.video_id is not None and media.url is not None:
        raise ValidationProblem("Give either a url or a videoId, not both.", field=f"{prefix}.url")
    if media.video_id is not None:
        raise ValidationProblem("Library videos are not available yet.", field=f"{prefix}.videoId")
    if media.url is None:
        raise ValidationProblem("Give a url.", field=f"{prefix}.url")
    url = check_playable(media.url, f"{prefix}.url")
    title = " ".join((media.title or "").split()) or _title_from_url(url)
    if len(title) > MEDIA_TITLE_MAX_LENGTH:
        raise ValidationProblem(
            f"At most {MEDIA_TITLE_MAX_LENGTH} characters.", field=f"{prefix}.title"
        )
    duration = media.duration_seconds
    if duration is not None and not (
        math.isfinite(duration) and 0 < duration <= MAX_MEDIA_DURATION_SECONDS
    ):
        raise ValidationProblem(
            "A positive number of seconds (at most a week).", field=f"{prefix}.durationSeconds"
        )
    return Media(url=url, title=title, duration_seconds=duration)
