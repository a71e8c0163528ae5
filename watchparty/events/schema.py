"""Typed events and the one place their stored format is declared.

An event type is a frozen dataclass deriving from `Event`, registered with `register`:

    @register("party.playback_changed", legacy="PlaybackChanged")
    @dataclass(frozen=True, slots=True)
    class PlaybackChanged(Event):
        playback: dict[str, Any]  # parties.payloads.playback_payload

Its fields are its data: JSON values only (str, int, float, bool, None, lists, dicts; ids and
times as strings), so what a writer stores a reader can read back in another process, another
release, or after a restart. Nothing here knows GraphQL: the GraphQL side renders events into its
own types (`watchparty.party_stream`), and renaming a schema field changes no stored event.

The stored and broadcast format (`encode`/`decode`), version 2 of the envelope:

    {"v": 2, "kind": "party.playback_changed", "version": 1, "data": {"playback": {...}}}

`kind` is the registered name (stable: never reuse one), `version` the type's data version and
`data` its fields by their Python names. A type that changes shape bumps its `version` and gives
`upgrades[old] = function(old data) -> next version's data`, so every log already written stays
readable. Envelope version 1 (before this package) was `{"type": <GraphQL type name>, <fields by
GraphQL name>...}`: `legacy` names the type it was, and its data is read as version 0 (the keys
turned to snake case), upgraded like any other.

`decode` never raises on what it cannot read: an unknown kind (a newer writer's event) or
malformed data is logged and read as None, and readers skip it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 2

Data = dict[str, Any]
Upgrade = Callable[[Data], Data]


class Event:
    """Base of every event type (see the module's docstring)."""

    __slots__ = ()
    # Set by `register` (upper case, so that no data field can shadow them).
    KIND: ClassVar[str]
    VERSION: ClassVar[int] = 1
    STORED: ClassVar[bool] = True
    UPGRADES: ClassVar[Mapping[int, Upgrade]] = {}


E = TypeVar("E", bound=type[Event])

_BY_KIND: dict[str, type[Event]] = {}
_BY_LEGACY: dict[str, type[Event]] = {}


def register(
    kind: str,
    *,
    stored: bool = True,
    version: int = 1,
    legacy: str | None = None,
    upgrades: Mapping[int, Upgrade] | None = None,
) -> Callable[[E], E]:
    """Declare an event type. `stored`: recorded in a channel's log (a cursor, replayed);
    otherwise ephemeral (published, never stored or replayed)."""

    def declare(cls: E) -> E:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__}: register a dataclass")
        for name, table in ((kind, _BY_KIND), (legacy, _BY_LEGACY)):
            if name is not None and table.get(name, cls) is not cls:
                raise ValueError(f"event kind {name!r} is already {table[name].__name__}")
        cls.KIND = kind
        cls.STORED = stored
        cls.VERSION = version
        cls.UPGRADES = dict(upgrades or {})
        _BY_KIND[kind] = cls
        if legacy is not None:
            _BY_LEGACY[legacy] = cls
        return cls

    return declare


def event_types() -> dict[str, type[Event]]:
    """Every registered type by kind (tests, documentation)."""
    return dict(_BY_KIND)


def encode(event: Event) -> Data:
    """The stored (and broadcast) form of `event`."""
    cls = type(event)
    data = {field.name: getattr(event, field.name) for field in dataclasses.fields(event)}  # type: ignore[arg-type]
    return {"v": ENVELOPE_VERSION, "kind": cls.KIND, "version": cls.VERSION, "data": data}


def decode(payload: Mapping[str, Any]) -> Event | None:
    """The event a stored or broadcast payload holds; None (logged) when unreadable."""
    try:
        if "v" not in payload:  # envelope 1: {"type": ..., fields by GraphQL name}
            cls = _BY_LEGACY.get(str(payload.get("type")))
            version = 0
            data = {_snake(key): value for key, value in payload.items() if key != "type"}
            name = payload.get("type")
        else:
            name = payload.get("kind")
            cls = _BY_KIND.get(str(name))
            version = int(payload.get("version", 1))
            data = dict(payload["data"])
        if cls is None:
            log.warning("event of unknown kind skipped", extra={"kind": name})
            return None
        while version < cls.VERSION:
            upgrade = cls.UPGRADES.get(version)
            if upgrade is not None:
                data = upgrade(data)
            version += 1
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: value for key, value in data.items() if key in names})
    except (KeyError, TypeError, ValueError):
        log.warning("malformed event skipped", exc_info=True, extra={"kind": payload.get("kind")})
        return None


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()
