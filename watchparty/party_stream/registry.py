"""Which domains' events the party stream carries: one line per domain.

Each module listed keeps the contract of `parties/stream_types.py` (`EVENT_TYPES` joined to
`PartyEventUnion`, `RENDERERS` by event class). A new event type is declared in its domain's
`events.py` (no GraphQL) and rendered in its `stream_types.py`; a new domain adds its module here.
"""

from __future__ import annotations

from watchparty.chat import stream_types as chat
from watchparty.parties import stream_types as parties
from watchparty.polls import stream_types as polls
from watchparty.reactions import stream_types as reactions
from watchparty.voice import stream_types as voice

DOMAINS = (parties, chat, polls, reactions, voice)

EVENT_TYPES: tuple[type, ...] = tuple(member for domain in DOMAINS for member in domain.EVENT_TYPES)
RENDERERS = {kind: render for domain in DOMAINS for kind, render in domain.RENDERERS.items()}
