"""DataLoaders shared by every subscriber that renders the same stream event in this process.

A viewer-dependent field of a stream event (whether *I* reacted to a message, which options *I*
chose in a poll) runs once per subscriber. With a loader from `event_loader`, the keys of all
subscribers executing the same event in the same tick are batched into one database read per
event and process, instead of one per subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from watchparty.context import Info

T = TypeVar("T")


def event_loader(info: Info, name: str, factory: Callable[[Any], T]) -> T:
    """The loader `name` of the stream event being executed, shared by its subscribers; outside
    a stream event (a query or mutation), the operation's own loader of that name."""
    shared = getattr(info.root_value, "shared_loaders", None)
    if shared is None:
        return info.context.loaders.get(name, factory)
    loader = shared.get(name)
    if loader is None:
        loader = shared[name] = factory(info.context.state)
    return cast(T, loader)
