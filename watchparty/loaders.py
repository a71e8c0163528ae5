"""The operation's DataLoader registry: one per GraphQL operation, domains register by name.

The floor knows no domain's loaders: a domain asks `loaders.get(name, factory)` (usually through
a small accessor of its own, like `accounts.loaders.user_loader_of`), and the loader is made on
first use. `gql.extensions.FreshLoaders` gives every operation a new registry, because on a
WebSocket the context lives as long as the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from watchparty.state import AppState

T = TypeVar("T")


class Loaders:
    """The operation's DataLoaders, each made on first use: a WebSocket keeps one set per open
    subscription, and most subscriptions never touch most loaders."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._made: dict[str, Any] = {}

    def get(self, name: str, factory: Callable[[AppState], T]) -> T:
        """The operation's loader called `name`, made by `factory(state)` on first use (so a
        domain adds loaders without editing this class). Name them `<domain>.<what>`."""
        loader = self._made.get(name)
        if loader is None:
            loader = self._made[name] = factory(self._state)
        return cast(T, loader)
