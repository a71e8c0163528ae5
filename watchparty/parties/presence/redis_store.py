"""Presence shared by every API process through Redis.

Per party, a sorted set of user ids scored by the latest expiry of that user's connections, and
per (party, user) a sorted set of connection ids scored by expiry; plus a set of the parties with
anybody present, for the sweeper. Every transition is one Lua script run with the Redis server's
clock, so processes with skewed clocks agree and two processes never both report the same
transition.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from watchparty.parties.presence.store import Connection, Departure

log = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


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
