"""Who is watching: a member is online while at least one of their connections holds the stream.

Each open party stream registers a *connection* (party, user, connection id) with an expiry and
refreshes it with a heartbeat while it stays open (`keeper.PresenceKeeper`). A user is online
while any of their connections has not expired. A process that dies stops heartbeating; its
connections expire after `PRESENCE_TTL_SECONDS` and the sweeper (`offline.sweep_presence`, a
periodic job) reports those users offline. Reads never wait for the sweeper: they count unexpired
connections only.

Two stores with one interface (`store.Presence`), picked by `factory.get_presence`:

- `RedisPresence` (`redis_store`; production, shared by every API process). Every transition is
  one Lua script run with the Redis server's clock, so processes with skewed clocks agree and two
  processes never both report the same transition. Reads answer "nobody online" while Redis is
  unavailable (presence is advisory).
- `MemoryPresence` (`memory`; embedded mode, one process).

Transitions (first connection: online; last connection gone: offline) are reported by the
stores' return values; `offline.announce_transition` notes them in this process's
`batcher.PresenceBatcher` (one ephemeral `PresenceChanged` per party per
PRESENCE_BATCH_SECONDS, carrying who came and went, or only the online count above
PRESENCE_LIST_LIMIT) and runs what going offline sets off (host failover, the buffering wait,
voice).

What counts is holding the stream: members, and signed-in viewers of a PUBLIC party. Callers that
count members (`Party.onlineCount`) intersect `online_user_ids` with the active members.
"""

from watchparty.parties.presence.batcher import PresenceBatcher, get_batcher
from watchparty.parties.presence.factory import create_presence, get_presence
from watchparty.parties.presence.keeper import PresenceKeeper, get_keeper
from watchparty.parties.presence.memory import MemoryPresence
from watchparty.parties.presence.offline import announce_transition, sweep_presence
from watchparty.parties.presence.redis_store import RedisPresence
from watchparty.parties.presence.store import Connection, Departure, Presence

__all__ = [
    "Connection",
    "Departure",
    "MemoryPresence",
    "Presence",
    "PresenceBatcher",
    "PresenceKeeper",
    "RedisPresence",
    "announce_transition",
    "create_presence",
    "get_batcher",
    "get_keeper",
    "get_presence",
    "sweep_presence",
]
