"""Premium gating: the one place billing will switch on (everything is allowed until then).

`can_play` decides whether a viewer (None when signed out) may play a video they can see;
`max_rendition_height` caps the renditions offered to them (None: no cap). The intended rules
once plans exist: `premium_only` videos and renditions above 720p for premium viewers only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.accounts.models import User
    from watchparty.videos.models import Video

FREE_MAX_HEIGHT = 720  # the cap billing will apply to viewers without a premium plan


def can_play(user: User | None, video: Video) -> bool:
    return True


def max_rendition_height(user: User | None) -> int | None:
    return None
