"""A Redis pub/sub backend for broadcaster that survives Redis restarts, and the factory.

broadcaster 0.3.1's own Redis backend lets its listener task die with the connection, after
which subscribers wait forever. This one owns a single pub/sub connection and a supervisor task:
when the connection drops it reconnects with exponential backoff, resubscribes every channel and
then delivers an empty message on each channel once Redis confirms the subscription, so the
consumer knows it may have missed messages and catches up from its own store (the hub re-reads
the event log). `subscribe` returns once Redis confirmed it (or at once while disconnected), so
a consumer that reads its store after subscribing misses nothing.

Publishing uses a separate pooled client that retries a command on a fresh connection. Given
the process's `CircuitBreaker` (kit/redis_guard.py), a publish is bounded by `socket_timeout` as a
whole and skipped while Redis is known to be unavailable, and `subscribe` does not wait for a
confirmation then: a frozen Redis (SIGSTOP) must not hold a request or a new subscription. The
pub/sub connection itself notices a frozen Redis by its PING health check and reconnects; every
socket operation, the connection handshake included, is bounded by `socket_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast, BroadcastBackend, Event
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from watchparty.kit.cancel import reraise_if_cancelled
from watchparty.kit.redis_guard import CircuitBreaker

log = logging.getLogger(__name__)

RESUBSCRIBED = ""  # the message a channel receives after a reconnect


class ResilientRedisBackend(BroadcastBackend):
    def __init__(
        self,
        url: str,
        *,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        health_check_seconds: float = 5.0,
        connect_timeout: float = 2.0,
        confirm_timeout: float = 5.0,
        socket_timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        # BroadcastBackend.__init__ only raises NotImplementedError; nothing to call.
        self.url = url
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.health_check_seconds = health_check_seconds
        self.confirm_timeout = confirm_timeout if socket_timeout is None else socket_timeout
        self.reconnects = 0
        self._pool = ConnectionPool.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            socket_keepalive=True,
        )
        self._publisher: Redis | None = None
        self._connect_timeout = connect_timeout
        self._socket_timeout = socket_timeout or connect_timeout
        self._breaker = breaker
        self._channels: set[str] = set()
        self._announce: set[str] = set()
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._connection: AbstractConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.is_connected

    async def connect(self) -> None:
        """Connect now (a process must not start without Redis), then stay connected."""
        self._publisher = Redis.from_url(
            self.url,
            socket_connect_timeout=self._connect_timeout,
            socket_timeout=self._socket_timeout,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        connection = await self._open()
        self._connection = connection
        self._supervisor = asyncio.create_task(self._supervise(connection), name="redis-pubsub")

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await self._close(self._connection)
        self._connection = None
        if self._publisher is not None:
            await self._publisher.aclose()
        await self._pool.disconnect()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        connection = self._connection
        # Never let redis-py reconnect this connection behind our back: a reconnect must go
        # through the supervisor, which resubscribes and announces.
        if connection is None or not connection.is_connected:
            return
        if self._breaker is not None and self._breaker.is_open:
            # Redis is known to be unavailable: send, but do not wait for a confirmation; the
            # hub's safety poll covers the gap and a reconnect resubscribes and announces.
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await connection.send_command("SUBSCRIBE", channel)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(waiter)
        try:
            await connection.send_command("SUBSCRIBE", channel)
            await asyncio.wait_for(asyncio.shield(waiter), self.confirm_timeout)
        except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError):
            log.info(
                "subscribe not confirmed; the reconnect will resubscribe",
                extra={"channel": channel},
            )
        finally:
            waiters = self._confirmations.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._announce.discard(channel)
        connection = self._connection
        if connection is None or not connection.is_connected:
            return
        # A failure means the connection is gone; the reconnect subscribes current channels only.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await connection.send_command("UNSUBSCRIBE", channel)

    async def publish(self, channel: str, message: Any) -> None:
        if self._publisher is None:
            raise RuntimeError("publish before connect")
        publisher = self._publisher
        if self._breaker is None:
            await publisher.publish(channel, message)
            return
        await self._breaker.call(lambda: publisher.publish(channel, message), self._socket_timeout)

    async def next_published(self) -> Event:
        return await self._queue.get()

    # -- the connection and its supervisor -----------------------------------------------------

    async def _open(self) -> AbstractConnection:
        connection = self._pool.connection_class(**self._pool.connection_kwargs)
        try:
            await connection.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await self._close(connection)
            raise
        return connection

    @staticmethod
    async def _close(connection: AbstractConnection | None) -> None:
        if connection is not None:
            try:
                await connection.disconnect(nowait=True)
            except Exception:  # closing a dead socket may fail; it is closed either way
                log.debug("closing the pubsub connection failed", exc_info=True)

    async def _supervise(self, connection: AbstractConnection) -> None:
        first = True
        while True:
            try:
                await self._serve(connection, announce=not first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reraise_if_cancelled(exc)  # disconnect() must end the supervisor
                log.warning("redis pubsub connection lost: %r; reconnecting", exc)
            first = False
            self._connection = None
            await self._close(connection)
            connection = await self._reconnect()
            self.reconnects += 1
            log.info("redis pubsub reconnected", extra={"reconnects": self.reconnects})

    async def _reconnect(self) -> AbstractConnection:
        delay = self.backoff_initial
        while True:
            await asyncio.sleep(delay)
            try:
                return await self._open()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                reraise_if_cancelled(exc)
                log.debug("redis pubsub reconnect failed: %r", exc)
            delay = min(delay * 2, self.backoff_max)

    async def _serve(self, connection: AbstractConnection, *, announce: bool) -> None:
        # Publish the connection and snapshot the channels with no await in between: a channel
        # added later is subscribed by `subscribe` itself on this connection.
        self._connection = connection
        channels = list(self._channels)
        if announce:
            self._announce = set(channels)
        if channels:
            await connection.send_command("SUBSCRIBE", *channels)
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        pinged = False
        while True:
            if not connection.is_connected:
                raise RedisConnectionError("pubsub connection closed")
            response = await connection.read_response(
                timeout=self.health_check_seconds, disconnect_on_error=False
            )
            now = loop.time()
            # Checked again before any send: redis-py would silently reconnect a closed
            # connection on send, skipping our resubscribe-and-announce.
            if not connection.is_connected:
                raise RedisConnectionError("pubsub connection closed")
            if response is None:
                # Quiet for a whole interval: ask, and give up on a peer that does not answer.
                if pinged and now - last_heard > 2 * self.health_check_seconds:
                    raise RedisTimeoutError("no answer from redis")
                await connection.send_command("PING")
                pinged = True
                continue
            last_heard, pinged = now, False
            self._handle(response)

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 2:
            return  # PONG outside subscribed mode
        kind = response[0]
        if kind == b"message" and len(response) == 3:
            channel = response[1].decode()
            if channel in self._channels:
                self._queue.put_nowait(Event(channel=channel, message=response[2].decode()))
        elif kind == b"subscribe":
            channel = response[1].decode()
            for waiter in self._confirmations.get(channel, []):
                if not waiter.done():
                    waiter.set_result(None)
            if channel in self._announce:
                self._announce.discard(channel)
                if channel in self._channels:
                    self._queue.put_nowait(Event(channel=channel, message=RESUBSCRIBED))


def create_broadcast(
    url: str,
    *,
    socket_timeout: float | None = None,
    connect_timeout: float = 2.0,
    breaker: CircuitBreaker | None = None,
) -> Broadcast:
    """`redis://` and `rediss://` get the resilient backend; anything else (memory://) as is."""
    if urlparse(url).scheme in ("redis", "rediss"):
        backend = ResilientRedisBackend(
            url, connect_timeout=connect_timeout, socket_timeout=socket_timeout, breaker=breaker
        )
        return Broadcast(backend=backend)
    return Broadcast(url)
