"""Premium gating of playback: who may play a video and which renditions they get.

- `can_play`: a `premium_only` video plays for its owner and for viewers whose plan includes
  PREMIUM_VIDEOS; anybody else (anonymous viewers included) gets no media URL.
- `max_rendition_height`: renditions above 720p are for viewers whose plan processes 1080p or
  more (PROCESSING_HEIGHT >= 1080); everybody else, anonymous viewers included, is capped at
  720 (`urls.py` signs "hls/@720", `http/media.py` enforces it).

With billing off (no STRIPE_SECRET_KEY) nothing is gated: everything plays, no cap. The plan is
read once per operation (`billing.loaders`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchparty.billing.loaders import effective_of

if TYPE_CHECKING:
    from watchparty.accounts.models import User
    from watchparty.context import Info
    from watchparty.videos.models import Video

FREE_MAX_HEIGHT = 720  # the cap for viewers without a plan that processes 1080p
FULL_HEIGHT = 1080  # a plan processing this much sees every rendition


async def can_play(info: Info, viewer: User | None, video: Video) -> bool:
    if not video.premium_only or not info.context.state.settings.billing_enabled:
        return True
    if viewer is None:
        return False
    if viewer.id == video.owner_id:
        return True
    return (await effective_of(info, viewer.id)).entitlements.premium_videos


async def max_rendition_height(info: Info, viewer: User | None) -> int | None:
    if not info.context.state.settings.billing_enabled:
        return None
    if viewer is None:
        return FREE_MAX_HEIGHT
    height = (await effective_of(info, viewer.id)).entitlements.processing_height
    return None if height >= FULL_HEIGHT else FREE_MAX_HEIGHT
