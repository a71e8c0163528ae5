"""One channel in one process: its broadcast subscription, its log reads, its subscribers.

The wire format on the broadcast topic: `n:<seq>` (a committed event exists), `e:<json>` (an
ephemeral event, `{"t": epoch ms, "p": payload}`) and the empty message the backend sends after
resubscribing. Anything else is treated as "read the log".
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from watchparty.realtime.errors import HubClosed, StreamInterrupted
from watchparty.realtime.subscription import Delivery, DirectJob, Subscription, decode

if TYPE_CHECKING:
    from watchparty.realtime.hub import Hub

log = logging.getLogger(__name__)

NOTIFY_PREFIX = "n:"
EPHEMERAL_PREFIX = "e:"


class ChannelReader:
    """One channel in one process: its broadcast subscription, its reads, its subscribers."""

    def __init__(self, hub: Hub, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self.refs = 0
        self.last_seq = 0  # the highest seq fanned out to live subscribers
        self.subscribers: set[Subscription] = set()
        self.live: set[Subscription] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._target = 0  # the highest seq known to exist
        self._force = False  # re-read even without a newer seq (after a reconnect)
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name=f"realtime-listen:{self.channel}")

    async def stop(self, error: StreamInterrupted | None) -> None:
        if error is not None:
            for subscriber in list(self.subscribers):
                subscriber.fail(error)
        tasks = [task for task in (self._pump, self._listener) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self.ready.done():
            self.ready.set_exception(error or HubClosed("channel closed"))
            self.ready.exception()  # mark retrieved

    def hint(self, seq: int) -> None:
        """`seq` exists on this channel: read up to it unless we already have."""
        if seq > self._target:
            self._target = seq
        if seq > self.last_seq:
            self._wake.set()

    def force(self) -> None:
        self._force = True
        self._wake.set()

    async def _listen(self) -> None:
        try:
            # Subscribe first, then read the head: nothing committed after the read can be missed.
            async with self.hub.broadcast.subscribe(self.hub.topic(self.channel)) as messages:
                self.last_seq = await self.hub.current_seq(self.channel)
                # A notification may have come in during the read: keep the higher target.
                self._target = max(self._target, self.last_seq)
                self._pump = asyncio.create_task(
                    self._pump_forever(), name=f"realtime-pump:{self.channel}"
                )
                self.ready.set_result(None)
                while True:
                    event = await messages.get()
                    self._on_message(event.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
                self.ready.exception()
            else:
                log.exception("realtime listener failed", extra={"channel": self.channel})
            self.hub.forget(self)
            for subscriber in list(self.subscribers):
                subscriber.fail(HubClosed("the channel listener failed"))

    def _on_message(self, message: str) -> None:
        if message.startswith(NOTIFY_PREFIX):
            try:
                self.hint(int(message[len(NOTIFY_PREFIX) :]))
            except ValueError:
                self.force()
        elif message.startswith(EPHEMERAL_PREFIX):
            try:
                body = json.loads(message[len(EPHEMERAL_PREFIX) :])
                sent = datetime.fromtimestamp(float(body["t"]) / 1000.0, UTC)
                delivery = Delivery(None, self.hub.decode(dict(body["p"])), sent)
            except (ValueError, TypeError, KeyError):
                log.warning("malformed ephemeral event dropped", extra={"channel": self.channel})
                return
            for subscriber in list(self.live):
                subscriber.offer(delivery)
        else:  # the backend resubscribed after a lost connection: we may have missed events
            self.force()

    async def _pump_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._force or self._target > self.last_seq:
                self._force = False
                wanted = self._target
                try:
                    await self._catch_up()
                except Exception:
                    log.warning(
                        "event log read failed; retrying",
                        exc_info=True,
                        extra={"channel": self.channel},
                    )
                    self._force = True
                    await asyncio.sleep(self.hub.retry_seconds)
                    continue
                if self._target == wanted:
                    # The log has nothing past what we read: a stale hint must not make us spin.
                    self._target = self.last_seq

    async def _deliver(
        self, delivery: Delivery, jobs: list[tuple[Subscription, DirectJob]]
    ) -> None:
        """The subscribers' `direct` jobs for one event, in this task: the next event is fanned
        out only after, so each socket gets its events in order. A job that cannot deliver
        queues the event for its subscriber; one that fails affects no other."""
        for subscriber, job in jobs:
            wait = job.wait
            try:
                if wait is not None and not wait.done():
                    # shield: stopping this reader must not cancel what another task fulfils
                    await asyncio.shield(wait)
                delivered = job.finish()
            except Exception:
                log.debug("direct delivery failed", exc_info=True)
                continue  # the socket is gone: its operation ends on its own
            if not delivered:
                subscriber.requeue(delivery)

    async def _catch_up(self) -> None:
        page = self.hub.page_size
        while True:
            events = await self.hub.read_after(self.channel, self.last_seq, page)
            for event in events:
                # Decoded once per process, shared by every subscriber.
                delivery = decode(event, self.hub.decode)
                jobs = []
                for subscriber in list(self.live):
                    job = subscriber.offer(delivery)
                    if job is not None:
                        jobs.append((subscriber, job))
                self.last_seq = event.seq
                if jobs:
                    await self._deliver(delivery, jobs)
            if len(events) < page:
                return
