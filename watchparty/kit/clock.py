"""The server side of clock sync (SYNC.md): when a request arrived, and fewer GC stalls.

A clock sample is only as good as its timestamps. `serverReceivedMs` taken in the resolver comes
after parsing, validation and the extension hooks (~5 ms), while `serverSentMs` is followed by
little work: every sample's uplink then looks longer than its downlink and each client's offset
is off by a few ms, always the same way. So the transports stamp the arrival of each request
(`arrival()`: the WebSocket handler per `subscribe` frame, the GraphQL endpoint per HTTP
request) before anything is parsed, and the resolver reads the stamp (`received_ms()`). The
stamp travels in a context variable, which the operation's task inherits when it is created;
nothing a client sends can set it.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy.orm import configure_mappers
from starlette.applications import Starlette

from watchparty.kit.time import epoch_ms

_arrival_ms: ContextVar[float | None] = ContextVar("watchparty_arrival_ms", default=None)


@contextmanager
def arrival() -> Iterator[float]:
    """Stamp 'a request arrived now' for everything started inside (tasks created included)."""
    stamp = epoch_ms()
    token = _arrival_ms.set(stamp)
    try:
        yield stamp
    finally:
        _arrival_ms.reset(token)


def received_ms() -> float:
    """When the current request arrived; now if no transport stamped it."""
    stamp = _arrival_ms.get()
    return epoch_ms() if stamp is None else stamp


# -- garbage collection ------------------------------------------------------------------------

YOUNG_THRESHOLD = 5_000  # default 700; 20_000 or more made young collections pause up to 120 ms


def tune_gc() -> None:
    """Freeze what start-up built and collect young objects less often.

    Full collections otherwise walk everything start-up built (the schema, the ORM mappers, the
    imported modules: ~166,000 objects that live for ever) and stall the event loop for
    160-570 ms of CPU about every 6 s under load. `gc.freeze()` moves those out of the
    collector's sight; a young threshold of 5,000 (default 700) lets more of each operation's
    cycles die young instead of being promoted while still in flight. Measured with
    `bench/sync.py` (bench/README.md, Sync): half as many full collections, of 100-160 ms, and
    about a third less GC time in all; the price is middle-generation collections of 20-60 ms
    instead of under 16.
    """
    # SQLAlchemy configures its mappers on the first query: ~10,000 objects that live for ever
    # but would otherwise be built after the freeze and walked by every full collection.
    configure_mappers()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def tune_gc_after_startup(app: Starlette, enabled: bool = True) -> Starlette:
    """Wrap the app's lifespan so `tune_gc()` runs once start-up is done (state built, migrations
    applied), unless `GC_TUNING=false`. For `watchparty serve`, not for tests."""
    if not enabled:
        return app
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = startup(instance)
        async with context as state:
            tune_gc()
            yield state

    app.router.lifespan_context = lifespan
    return app
