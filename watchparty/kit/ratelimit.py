"""Fixed-window rate limits: Redis (shared by every process) or memory (embedded mode).

A limit is "count per seconds" for a key such as `login:ip:1.2.3.4`. `hit` counts one attempt and
raises `RateLimited` with the seconds until the window resets once the count is exceeded.

While Redis is unavailable, `FallbackRateLimiter` decides per limit (by the key's first part):

- fail open to a per-process `MemoryRateLimiter` (the same limits, counted by each process on
  its own): sign-in, registration, password change, chat, reactions, typing, signals, voice
  state, player reports. Every limit stays bounded (per process) and people can go on.
- fail closed with `ServiceUnavailable` (`FAIL_CLOSED`): password-reset and verification mails.
  Those limits are what keeps the API from being used to flood someone's inbox; counted per
  process they would multiply with every process and restart, and a mail can wait a minute.

When Redis answers again the shared counters are used again; what was counted in memory
meanwhile is not carried over.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from watchparty.errors import RateLimited, ServiceUnavailable
from watchparty.kit.redis_guard import UNAVAILABLE, retry_after_seconds

log = logging.getLogger(__name__)

# Keys (by their first part) whose limit fails closed while Redis is unavailable.
FAIL_CLOSED = ("reset:", "verify_resend:")


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        count, _, seconds = text.partition("/")
        return cls(int(count), int(seconds or 60))


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: Limit) -> None:
        """Count one attempt; raise `RateLimited` when over the limit."""

    async def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    async def hit(self, key: str, limit: Limit) -> None:
        now = time.monotonic()
        count, ends = self._windows.get(key, (0, now + limit.seconds))
        if ends <= now:
            count, ends = 0, now + limit.seconds
        count += 1
        self._windows[key] = (count, ends)
        if len(self._windows) > 100_000:
            self._evict(now)
        if count > limit.count:
            raise RateLimited(max(1, math.ceil(ends - now)))

    def _evict(self, now: float) -> None:
        for key in [k for k, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[key]

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


# INCR and set the expiry on the first hit in one atomic step; returns (count, ttl in ms).
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "rl:"
        self._script = redis.register_script(_HIT)

    async def hit(self, key: str, limit: Limit) -> None:
        count, ttl_ms = await self._script(keys=[self._prefix + key], args=[limit.seconds * 1000])
        if int(count) > limit.count:
            raise RateLimited(max(1, math.ceil(int(ttl_ms) / 1000)))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class FallbackRateLimiter:
    """`primary` (Redis) while it answers; `fallback` (this process's memory) or, for keys
    starting with one of `fail_closed`, `ServiceUnavailable` while it does not."""

    def __init__(
        self,
        primary: RateLimiter,
        fallback: RateLimiter,
        *,
        fail_closed: tuple[str, ...] = FAIL_CLOSED,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.fail_closed = fail_closed

    async def hit(self, key: str, limit: Limit) -> None:
        try:
            await self.primary.hit(key, limit)
        except UNAVAILABLE as exc:
            if key.startswith(self.fail_closed):
                raise ServiceUnavailable(retry_after_seconds(exc)) from exc
            log.debug("rate limit counted in memory while redis is unavailable: %s", key)
            await self.fallback.hit(key, limit)

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)
        try:
            await self.primary.reset(key)
        except UNAVAILABLE:
            log.warning("rate limit not reset while redis is unavailable", extra={"key": key})
