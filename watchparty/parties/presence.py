"""Who is watching: a member is online while at least one of their connections holds the stream.

Each open party stream registers a *connection* (party, user, connection id) with an expiry and
refreshes it with a heartbeat while it stays open. A user is online while any of their
connections has not expired. A process that dies stops heartbeating; its connections expire after
`PRESENCE_TTL_SECONDS` and the sweeper (`sweep_presence`, a periodic job) reports those users
offline. Reads never wait for the sweeper: they count unexpired connections only.

Two stores with one interface:

- `RedisPresence` (production, shared by every API process). Per party, a sorted set of user ids
  scored by the latest expiry of that user's connections, and per (party, user) a sorted set of
  connection ids scored by expiry; plus a set of the parties with anybody present, for the
  sweeper. Every transition is one Lua script run with the Redis server's clock, so processes
  with skewed clocks agree and two processes never both report the same transition.
- `MemoryPresence` (embedded mode, one process).

Transitions (first connection: online; last connection gone: offline) are reported by the
methods' return values; the party stream publishes them as ephemeral `PresenceChanged` events.

What counts is holding the stream: members, and signed-in viewers of a PUBLIC party. Callers that
count members (`Party.onlineCount`) intersect `online_user_ids` with the active members.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

EXTRAS_KEY = "presence"
KEEPER_KEY = "presence_keeper"
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class Connection:
    """One stream held by one user: the unit presence counts."""

    party_id: uuid.UUID
    user_id: uuid.UUID
    connection_id: str


@dataclass(frozen=True, slots=True)
class Departure:
    """A user the sweeper found offline (their last connection expired)."""

    party_id: uuid.UUID
    user_id: uuid.UUID


class Presence(Protocol):
    ttl_seconds: float

    async def connect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Register a connection; True when the user just came online."""
        ...

    async def heartbeat(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Extend a connection's expiry (re-adding it if it was swept); True when that brought
        the user back online."""
        ...

    async def disconnect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Remove a connection; True when the user just went offline."""
        ...

    async def online_user_ids(self, party_id: uuid.UUID) -> set[uuid.UUID]: ...

    async def online_counts(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Online users per party (for listings: one round trip for many parties)."""
        ...

    async def online_count(self, party_id: uuid.UUID) -> int: ...

    async def is_online(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...

    async def heartbeat_many(self, connections: Sequence[Connection]) -> list[bool]:
        """`heartbeat` for many connections in one round trip."""
        ...

    async def sweep(self, party_ids: Iterable[uuid.UUID] | None = None) -> list[Departure]:
        """Drop expired connections (of `party_ids`, or everywhere); the users that went
        offline because of it."""
        ...


# -- memory ------------------------------------------------------------------------------------


class MemoryPresence:
    """One process's presence (embedded mode). Same expiry semantics as Redis."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        # party -> user -> connection -> expiry (monotonic seconds)
        self._parties: dict[uuid.UUID, dict[uuid.UUID, dict[str, float]]] = {}

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _live(self, connections: dict[str, float], now: float) -> bool:
        return any(expiry > now for expiry in connections.values())

    async def connect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        now = self._now()
        users = self._parties.setdefault(party_id, {})
        connections = users.setdefault(user_id, {})
        was_online = self._live(connections, now)
        connections[connection_id] = now + self.ttl_seconds
        return not was_online

    async def heartbeat(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        return await self.connect(party_id, user_id, connection_id)

    async def disconnect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        now = self._now()
        users = self._parties.get(party_id, {})
        connections = users.get(user_id)
        if connections is None or connection_id not in connections:
            return False
        was_online = self._live(connections, now)
        del connections[connection_id]
        still_online = self._live(connections, now)
        if not connections:
            del users[user_id]
            if not users:
                self._parties.pop(party_id, None)
        return was_online and not still_online

    async def online_user_ids(self, party_id: uuid.UUID) -> set[uuid.UUID]:
        now = self._now()
        users = self._parties.get(party_id, {})
        return {user for user, connections in users.items() if self._live(connections, now)}

    async def online_counts(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {party_id: len(await self.online_user_ids(party_id)) for party_id in party_ids}

    async def online_count(self, party_id: uuid.UUID) -> int:
        return len(await self.online_user_ids(party_id))

    async def is_online(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        connections = self._parties.get(party_id, {}).get(user_id, {})
        return self._live(connections, self._now())

    async def heartbeat_many(self, connections: Sequence[Connection]) -> list[bool]:
        return [await self.connect(c.party_id, c.user_id, c.connection_id) for c in connections]

    async def sweep(self, party_ids: Iterable[uuid.UUID] | None = None) -> list[Departure]:
        now = self._now()
        departed: list[Departure] = []
        wanted = list(self._parties) if party_ids is None else list(party_ids)
        for party_id in wanted:
            users = self._parties.get(party_id)
            if users is None:
                continue
            for user_id, connections in list(users.items()):
                had = bool(connections)
                for connection_id, expiry in list(connections.items()):
                    if expiry <= now:
                        del connections[connection_id]
                if not connections:
                    del users[user_id]
                    if had:
                        departed.append(Departure(party_id, user_id))
            if not users:
                del self._parties[party_id]
        return departed


# -- Redis -------------------------------------------------------------------------------------

# Milliseconds on the Redis server's clock.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: party users zset, user connections zset, index set. ARGV: user, connection, ttl ms,
# party id. Returns 1 when the user was not online before.
_CONNECT = (
    _NOW
    + """
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], expiry, ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', expiry, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
local ttl = math.ceil(tonumber(ARGV[3]) / 1000) * 4 + 60
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[1], ttl)
if was and tonumber(was) > now then return 0 end
return 1
"""
)

# KEYS: party users zset, user connections zset, index set. ARGV: user, connection, party id.
# Returns 1 when the user went offline with this connection.
_DISCONNECT = (
    _NOW
    + """
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #top == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
  if was and tonumber(was) > now then return 1 end
  return 0
end
redis.call('ZADD', KEYS[1], top[2], ARGV[1])
return 0
"""
)

# KEYS: party users zset. ARGV: connections key prefix (ends with ':'), party id, index key.
# Drops expired connections of the party's expired users; returns the users now offline.
_SWEEP_PARTY = (
    _NOW
    + """
local gone = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, user in ipairs(expired) do
  local ckey = ARGV[1] .. user
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', now)
  local top = redis.call('ZRANGE', ckey, -1, -1, 'WITHSCORES')
  if #top == 0 then
    redis.call('DEL', ckey)
    redis.call('ZREM', KEYS[1], user)
    table.insert(gone, user)
  else
    redis.call('ZADD', KEYS[1], top[2], user)
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', ARGV[3], ARGV[2]) end
return gone
"""
)

# KEYS: party users zsets. Returns the number of unexpired users of each.
_COUNT = (
    _NOW
    + """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('ZCOUNT', key, '(' .. now, '+inf')
end
return counts
"""
)

# KEYS: party users zset. Returns the unexpired user ids.
_ONLINE = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""
)


class RedisPresence:
    """Presence shared by every API process through Redis (see the module docstring)."""

    SWEEP_BATCH = 500

    def __init__(self, redis: Redis, *, prefix: str = "", ttl_seconds: float = 30.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._connect = redis.register_script(_CONNECT)
        self._disconnect = redis.register_script(_DISCONNECT)
        self._sweep_party = redis.register_script(_SWEEP_PARTY)
        self._count = redis.register_script(_COUNT)
        self._online = redis.register_script(_ONLINE)

    # Keys share a hash tag per party, so one script's keys live in one cluster slot.
    def _users_key(self, party_id: uuid.UUID) -> str:
        return f"{self.prefix}presence:{{{party_id}}}:users"

    def _connections_prefix(self, party_id: uuid.UUID) -> str:
        return f"{self.prefix}presence:{{{party_id}}}:c:"

    @property
    def _index_key(self) -> str:
        return f"{self.prefix}presence:parties"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_seconds * 1000))

    def _connection_keys(self, party_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
        return [
            self._users_key(party_id),
            self._connections_prefix(party_id) + str(user_id),
            self._index_key,
        ]

    async def connect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        keys = self._connection_keys(party_id, user_id)
        args: list[Any] = [str(user_id), connection_id, self._ttl_ms, str(party_id)]
        return bool(await self._connect(keys=keys, args=args))

    async def heartbeat(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        return await self.connect(party_id, user_id, connection_id)

    async def disconnect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        keys = self._connection_keys(party_id, user_id)
        return bool(
            await self._disconnect(keys=keys, args=[str(user_id), connection_id, str(party_id)])
        )

    # Reads answer "nobody online" while Redis is unreachable rather than failing the request
    # (a party query, a playback control sizing its lead time): presence is advisory.

    async def online_user_ids(self, party_id: uuid.UUID) -> set[uuid.UUID]:
        try:
            members = await self._online(keys=[self._users_key(party_id)])
        except UNAVAILABLE:
            log.warning("presence unavailable: reporting nobody online", exc_info=True)
            return set()
        return {uuid.UUID(_text(member)) for member in members}

    async def online_counts(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(dict.fromkeys(party_ids))
        if not ids:
            return {}
        try:
            counts = await self._count(keys=[self._users_key(party_id) for party_id in ids])
        except UNAVAILABLE:
            log.warning("presence unavailable: reporting nobody online", exc_info=True)
            return dict.fromkeys(ids, 0)
        return {party_id: int(count) for party_id, count in zip(ids, counts, strict=True)}

    async def online_count(self, party_id: uuid.UUID) -> int:
        return (await self.online_counts([party_id]))[party_id]

    async def is_online(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return user_id in await self.online_user_ids(party_id)

    async def heartbeat_many(self, connections: Sequence[Connection]) -> list[bool]:
        if not connections:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in connections:
                await self._connect(
                    keys=self._connection_keys(c.party_id, c.user_id),
                    args=[str(c.user_id), c.connection_id, self._ttl_ms, str(c.party_id)],
                    client=pipe,
                )
            results = await pipe.execute()
        return [bool(result) for result in results]

    async def sweep(self, party_ids: Iterable[uuid.UUID] | None = None) -> list[Departure]:
        """Sweep `party_ids`, or every party with anybody present (the index, in batches)."""
        if party_ids is not None:
            return await self._sweep_parties(list(party_ids))
        departed: list[Departure] = []
        cursor = 0
        while True:
            cursor, members = await self.redis.sscan(
                self._index_key, cursor, count=self.SWEEP_BATCH
            )
            departed.extend(await self._sweep_parties([uuid.UUID(_text(m)) for m in members]))
            if cursor == 0:
                return departed

    async def _sweep_parties(self, party_ids: list[uuid.UUID]) -> list[Departure]:
        if not party_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for party_id in party_ids:
                await self._sweep_party(
                    keys=[self._users_key(party_id)],
                    args=[self._connections_prefix(party_id), str(party_id), self._index_key],
                    client=pipe,
                )
            results = await pipe.execute()
        return [
            Departure(party_id, uuid.UUID(_text(user)))
            for party_id, gone in zip(party_ids, results, strict=True)
            for user in gone
        ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- the accessor ------------------------------------------------------------------------------


def create_presence(state: AppState) -> Presence:
    ttl = state.settings.presence_ttl_seconds
    if state.redis is not None:
        return RedisPresence(state.redis, prefix=state.settings.redis_key_prefix, ttl_seconds=ttl)
    return MemoryPresence(ttl_seconds=ttl)


def get_presence(state: AppState) -> Presence:
    """This process's presence store, created on first use and kept in `state.extras`."""
    presence = state.extras.get(EXTRAS_KEY)
    if presence is None:
        presence = create_presence(state)
        state.extras[EXTRAS_KEY] = presence
    return presence  # type: ignore[no-any-return]


# -- this process's held streams ---------------------------------------------------------------


class PresenceKeeper:
    """The connections this process holds: registers them, heartbeats them, reports changes.

    One task per process (not per connection) refreshes every held connection each
    `PRESENCE_HEARTBEAT_SECONDS` in one round trip, then sweeps the parties it serves so that
    users of a dead process go offline for the members watching here without waiting for the
    periodic job. The task runs only while something is held.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.presence = get_presence(state)
        # Refresh well within the TTL, whatever the settings say, or connections would flap.
        settings = state.settings
        self.interval = min(settings.presence_heartbeat_seconds, settings.presence_ttl_seconds / 3)
        self._held: dict[str, Connection] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    async def hold(self, party_id: uuid.UUID, user_id: uuid.UUID) -> Connection:
        """Register a new connection of `user_id` to the party; announce them if they just came
        online. Never raises: presence is best effort, the stream works without it."""
        connection = Connection(party_id, user_id, uuid.uuid4().hex)
        self._held[connection.connection_id] = connection
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="presence-heartbeat")
        try:
            if await self.presence.connect(party_id, user_id, connection.connection_id):
                await _announce(self.state, party_id, user_id, online=True)
        except Exception:
            log.warning("presence connect failed", exc_info=True)
        return connection

    async def release(self, connection: Connection) -> None:
        """Drop a connection; announce the user offline if it was their last one."""
        if self._held.pop(connection.connection_id, None) is None:
            return
        if not self._held and self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            if await self.presence.disconnect(
                connection.party_id, connection.user_id, connection.connection_id
            ):
                await _announce(self.state, connection.party_id, connection.user_id, online=False)
        except Exception:
            log.warning("presence disconnect failed", exc_info=True)

    async def _run(self) -> None:
        while self._held:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)

    async def tick(self) -> None:
        """One heartbeat for every held connection, then a sweep of the parties served here."""
        connections = list(self._held.values())
        revived = await self.presence.heartbeat_many(connections)
        for connection, back in zip(connections, revived, strict=True):
            if back:  # swept while this process stalled: announce again
                await _announce(self.state, connection.party_id, connection.user_id, online=True)
        parties = {c.party_id for c in connections}
        for departure in await self.presence.sweep(parties):
            await _announce(self.state, departure.party_id, departure.user_id, online=False)


def get_keeper(state: AppState) -> PresenceKeeper:
    keeper = state.extras.get(KEEPER_KEY)
    if keeper is None:
        keeper = PresenceKeeper(state)
        state.extras[KEEPER_KEY] = keeper
    return keeper  # type: ignore[no-any-return]


async def _announce(state: AppState, party_id: uuid.UUID, user_id: uuid.UUID, online: bool) -> None:
    """Publish a transition; an offline host also starts the failover grace period."""
    from watchparty.parties.failover import schedule_host_failover
    from watchparty.parties.playback_reports import release_member
    from watchparty.parties.stream import publish_presence

    await publish_presence(state, party_id, user_id, online)
    if not online:
        try:
            await schedule_host_failover(state, party_id, user_id)
        except Exception:
            log.warning("host failover not scheduled", exc_info=True)
        try:  # a member who disconnects stops counting for the buffering wait (SYNC.md)
            await release_member(state, party_id, user_id)
        except Exception:
            log.warning("offline member not released from the wait", exc_info=True)
        try:  # a member who disconnects leaves voice and stops sharing a screen
            from watchparty.voice.service import member_offline

            await member_offline(state, party_id, user_id)
        except Exception:
            log.warning("offline member not removed from voice", exc_info=True)


async def sweep_presence(ctx: dict[str, Any]) -> int:
    """Periodic job: report users whose connections all expired (their process died) offline.

    Idempotent and safe to run in several processes at once: each expiry is reported once (the
    Redis script that removes it decides). Returns how many users went offline.
    """
    state: AppState = ctx["state"]
    departures = await get_presence(state).sweep()
    for departure in departures:
        await _announce(state, departure.party_id, departure.user_id, online=False)
    return len(departures)
