"""Signed media URLs for `Video.hlsUrl`, `Video.thumbnailUrl` and `Rendition.url`.

A URL is issued only to a viewer who may play the video: its owner, anyone for a PUBLIC or
UNLISTED video, or an active member of a party whose queue holds it (the party check is one
batched query per operation). Otherwise the field is null. Each URL carries a token for the
video's `hls/` prefix (or exactly `thumb.jpg`); see `watchparty/http/media.py` for why one token
per prefix. Expiries are rounded (`signing.expiry`) so a viewer keeps the same URL for a while.
External videos have no media of ours: `hlsUrl` is null and `thumbnailUrl` is the provider's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from watchparty.http.media import MEDIA_PURPOSE, media_subject
from watchparty.parties.models import MemberStatus, Party, PartyMember, QueueItem
from watchparty.videos.entitlements import can_play, max_rendition_height
from watchparty.videos.models import Video, VideoProvider, VideoStatus, VideoVisibility
from watchparty.videos.signing import expiry, sign

if TYPE_CHECKING:
    from watchparty.context import Info
    from watchparty.state import AppState

HLS_SCOPE = "hls/"
THUMBNAIL_SCOPE = "thumb.jpg"


def party_video_loader(state: AppState, user_id: uuid.UUID) -> DataLoader[uuid.UUID, bool]:
    """Whether `user_id` is an active member of a live (not deleted) party queuing the video."""

    async def load(video_ids: Sequence[uuid.UUID]) -> list[bool]:
        async with state.sessionmaker() as session:
            rows = await session.scalars(
                select(QueueItem.video_id)
                .join(PartyMember, PartyMember.party_id == QueueItem.party_id)
                .join(Party, Party.id == QueueItem.party_id)
                .where(
                    QueueItem.video_id.in_(video_ids),
                    PartyMember.user_id == user_id,
                    PartyMember.status == MemberStatus.ACTIVE,
                    Party.deleted_at.is_(None),
                )
                .distinct()
            )
            found = set(rows)
        return [video_id in found for video_id in video_ids]

    return DataLoader(load_fn=load)


async def may_play(info: Info, video: Video) -> bool:
    """The issuing rule (visibility, party membership, entitlements)."""
    if video.deleted_at is not None:
        return False
    viewer = await info.context.viewer()
    if viewer is not None and viewer.id == video.owner_id:
        return await can_play(info, viewer, video)
    if video.visibility is not VideoVisibility.PRIVATE:
        return await can_play(info, viewer, video)
    if viewer is None:
        return False
    loader = info.context.loaders.get(
        f"videos.party_video:{viewer.id}", lambda state: party_video_loader(state, viewer.id)
    )
    return await loader.load(video.id) and await can_play(info, viewer, video)


def _media_url(info: Info, video_id: uuid.UUID, scope: str, path: str) -> str:
    settings = info.context.state.settings
    token = sign(
        settings,
        MEDIA_PURPOSE,
        media_subject(str(video_id), scope),
        expiry(settings.media_url_ttl_seconds),
    )
    return f"{settings.public_url.rstrip('/')}/media/{token}/{path}"


def _relative(video: Video, key: str | None) -> str | None:
    prefix = f"videos/{video.id}/"
    if not key or not key.startswith(prefix):
        return None
    return key.removeprefix(prefix)


async def _hls_scope(info: Info) -> str:
    """ "hls/", or "hls/@720" when the viewer's plan caps renditions (media.py enforces it)."""
    cap = await max_rendition_height(info, await info.context.viewer())
    return HLS_SCOPE if cap is None else f"{HLS_SCOPE}@{cap}"


async def hls_url(info: Info, video: Video) -> str | None:
    """The master playlist's signed URL, for a READY upload the viewer may play."""
    path = _relative(video, video.hls_master_key)
    if video.status is not VideoStatus.READY or path is None or not path.startswith(HLS_SCOPE):
        return None
    if not await may_play(info, video):
        return None
    return _media_url(info, video.id, await _hls_scope(info), path)


async def thumbnail_url(info: Info, video: Video) -> str | None:
    """The thumbnail: ours (signed) for uploads, the provider's URL for external videos."""
    if video.provider is not VideoProvider.UPLOAD:
        key = video.thumbnail_key
        return key if key and key.startswith("https://") else None
    if _relative(video, video.thumbnail_key) != THUMBNAIL_SCOPE:
        return None
    if not await may_play(info, video):
        return None
    return _media_url(info, video.id, THUMBNAIL_SCOPE, THUMBNAIL_SCOPE)


async def rendition_url(info: Info, video: Video, rendition: dict[str, Any]) -> str | None:
    """One rendition's playlist (a player picking a fixed quality), within the viewer's cap."""
    path = _relative(video, rendition.get("playlistKey"))
    if video.status is not VideoStatus.READY or path is None or not path.startswith(HLS_SCOPE):
        return None
    cap = await max_rendition_height(info, await info.context.viewer())
    if cap is not None and int(rendition.get("height") or 0) > cap:
        return None
    if not await may_play(info, video):
        return None
    return _media_url(info, video.id, await _hls_scope(info), path)
