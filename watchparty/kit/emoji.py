"""The emoji a member may react with (message reactions and live reactions alike).

A fixed set keeps counts meaningful and the payloads small; the frontend renders them from its
own emoji font. `Query.allowedEmoji` tells clients the set.
"""

from __future__ import annotations

ALLOWED_EMOJI: tuple[str, ...] = (
    "👍", "👎", "❤️", "😂", "😮", "😢", "😡", "🔥", "👏", "🎉",
    "🤔", "😱", "😍", "🙌", "💯", "👀", "🍿", "😴", "🤣", "🥲",
)  # fmt: skip
_ALLOWED = frozenset(ALLOWED_EMOJI)


def is_allowed_emoji(value: str) -> bool:
    return value in _ALLOWED
