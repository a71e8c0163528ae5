"""Redis that cannot hang a request: every command bounded in time, and a circuit breaker.

A frozen Redis (SIGSTOP, a stuck network) accepts connections and never answers. Socket timeouts
bound each read, but a command may be retried by redis-py, and every request would still pay the
full timeout while Redis stays frozen, holding whatever it holds (a database connection) meanwhile.

So each process has one `CircuitBreaker`, shared by its Redis clients. `GuardedRedis` (the main
client) runs each command through `CircuitBreaker.call`: bounded by REDIS_SOCKET_TIMEOUT_SECONDS as
a whole, and after any failure the breaker opens for REDIS_COOLDOWN_SECONDS, during which commands
fail at once with `RedisUnavailable`. Once the cool-down is over, one command is let through as a
probe (the others keep failing fast until it returns): its success closes the breaker, its failure
opens it again.

`RedisUnavailable` is a redis `ConnectionError`, so code that already treats Redis errors as
"unavailable" (presence reads answering "nobody online") needs nothing new; it carries the
seconds a client should wait before retrying (`ServiceUnavailable.retryAfterSeconds`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from watchparty.kit.cancel import reraise_if_cancelled

log = logging.getLogger(__name__)

T = TypeVar("T")

# What "Redis is unavailable" looks like: refused, reset, timed out (ours or redis-py's).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)

# What an unavailable Redis raises through redis-py or `GuardedRedis` (never a bare OSError):
# what the GraphQL layer answers as `ServiceUnavailable`.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)


class RedisUnavailable(RedisConnectionError):
    """Redis did not answer, or is being skipped while the breaker is open."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def retry_after_seconds(exc: BaseException) -> int:
    """The wait to suggest to a client after `exc` (one of `UNAVAILABLE`)."""
    return exc.retry_after_seconds if isinstance(exc, RedisUnavailable) else 1


class CircuitBreaker:
    """Closed (use Redis), open (skip it for `cooldown_seconds`), then one probe at a time."""

    def __init__(
        self, cooldown_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cooldown_seconds = cooldown_seconds
        self.trips = 0  # closed -> open transitions (observability, tests)
        self._clock = clock
        self._open_until = 0.0
        self._failed = False  # the latest outcome was a failure: the next call is a probe
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether a call now would be skipped."""
        return self._failed and (self._clock() < self._open_until or self._probing)

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self._open_until - self._clock()))

    def _admit(self) -> bool:
        """True when the call goes ahead; a call after the cool-down becomes the probe."""
        if not self._failed:
            return False
        if self.is_open:
            raise RedisUnavailable("redis skipped while it recovers", self.retry_after_seconds)
        self._probing = True
        return True

    def failure(self) -> None:
        if not self._failed:
            self.trips += 1
            log.warning("redis unavailable: degraded for %.1f s", self.cooldown_seconds)
        self._failed = True
        self._open_until = self._clock() + self.cooldown_seconds

    def success(self) -> None:
        if self._failed:
            log.info("redis answers again")
        self._failed = False

    async def call(self, run: Callable[[], Awaitable[T]], seconds: float) -> T:
        """`await run()` within `seconds`; any failure to reach Redis opens the breaker
        and is raised as `RedisUnavailable`."""
        probe = self._admit()
        try:
            result = await asyncio.wait_for(run(), seconds)
        except UNAVAILABLE as exc:
            reraise_if_cancelled(exc)  # a cancelled caller says nothing about Redis
            self.failure()
            raise RedisUnavailable(
                f"redis unavailable ({type(exc).__name__})", self.retry_after_seconds
            ) from exc
        finally:
            if probe:
                self._probing = False
        self.success()
        return result


class GuardedRedis(Redis):
    """A `Redis` whose commands (scripts included) go through a `CircuitBreaker`.

    Pipelines are not guarded as a whole; their reads are still bounded by the socket timeout.
    """

    breaker: CircuitBreaker
    command_timeout: float

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        run = super().execute_command
        return await self.breaker.call(
            lambda: run(*args, **options),  # type: ignore[no-untyped-call]
            self.command_timeout,
        )


def connection_options(socket_timeout: float, connect_timeout: float) -> dict[str, Any]:
    """The options every Redis connection pool of a process gets."""
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "socket_keepalive": True,
    }


def guarded_redis(
    url: str, breaker: CircuitBreaker, *, socket_timeout: float, connect_timeout: float
) -> GuardedRedis:
    client: GuardedRedis = GuardedRedis.from_url(
        url, decode_responses=False, **connection_options(socket_timeout, connect_timeout)
    )
    client.breaker = breaker
    # The whole command, retries included, within one socket timeout: a frozen Redis accepts
    # TCP connections at once, so connecting is not what a request waits for.
    client.command_timeout = socket_timeout
    return client
