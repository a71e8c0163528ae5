"""Realtime events with no GraphQL in them: typed event schemas, the outbox, streams.

- `schema`: `Event`, `register` and the stored format (`encode`/`decode`, versioned).
- `streams`: `record` / `record_many` (in a unit of work, announced after the commit),
  `publish` (ephemeral),
  channels, cursors, and `follow` (replay, resync and overflow for every kind of stream).

Below it is `watchparty.realtime` (the log, the hub, the broadcast); above it, each domain's
`events.py` declares its event types, and the GraphQL side (`watchparty.party_stream` and the
domains' `stream_types.py`) renders them.
"""

from watchparty.events.schema import Event, decode, encode, event_types, register
from watchparty.events.streams import (
    Arrival,
    EndReason,
    Opened,
    StreamEnded,
    channel_of,
    follow,
    format_cursor,
    parse_cursor,
    publish,
    record,
    record_many,
)

__all__ = [
    "Arrival",
    "EndReason",
    "Event",
    "Opened",
    "StreamEnded",
    "channel_of",
    "decode",
    "encode",
    "event_types",
    "follow",
    "format_cursor",
    "parse_cursor",
    "publish",
    "record",
    "record_many",
    "register",
]
