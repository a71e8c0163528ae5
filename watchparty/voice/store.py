"""Who is in a party's voice room and who shares a screen: ephemeral state, no database table.

Two stores with one interface, picked like `parties.presence`: `RedisVoiceStore` (shared by every
API process) when `state.redis` is set, `MemoryVoiceStore` (one process) in embedded mode.

Every change is atomic and reports whether it changed anything, so callers publish an event only
for real transitions: a repeated `speaking: true` costs a round trip and fans out nothing, and
two processes never both announce the same join. The screen-share limit is checked and taken in
one step (a Lua script in Redis; no await between check and write in memory), so concurrent
starts never exceed it.

Nothing here expires on its own: members leave voice by `leaveVoice`, or when presence reports
them offline (`service.member_offline`, also for users of a process that died). The Redis hashes
get a long TTL, refreshed on every write, only so an abandoned party does not keep keys forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis

if TYPE_CHECKING:
    from watchparty.state import AppState

EXTRAS_KEY = "voice_store"
KEY_TTL_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class VoiceState:
    """A member in the voice room."""

    user_id: uuid.UUID
    muted: bool
    speaking: bool
    joined_ms: int

    @property
    def joined_at(self) -> datetime:
        return datetime.fromtimestamp(self.joined_ms / 1000, UTC)

    def encode(self) -> str:
        # "<muted><speaking>:<joined ms>", e.g. "01:1764111111111" (the Lua scripts read it too)
        return f"{int(self.muted)}{int(self.speaking)}:{self.joined_ms}"

    @classmethod
    def decode(cls, user_id: uuid.UUID, value: str) -> VoiceState:
        return cls(user_id, value[0] == "1", value[1] == "1", int(value[3:]))


@dataclass(frozen=True, slots=True)
class ScreenShare:
    """A member sharing a screen."""

    user_id: uuid.UUID
    started_ms: int

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of a write: the state now, and whether the write changed it."""

    state: VoiceState
    changed: bool


class ShareOutcome:
    STARTED = 1
    ALREADY = 0
    FULL = -1


class VoiceStore(Protocol):
    async def join(self, party_id: uuid.UUID, state: VoiceState) -> Change:
        """Enter the room with `state` unless already in it (then the current state, unchanged)."""
        ...

    async def leave(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Leave the room; True when the user was in it."""
        ...

    async def update(
        self, party_id: uuid.UUID, user_id: uuid.UUID, muted: bool | None, speaking: bool | None
    ) -> Change | None:
        """Change muted/speaking (None: unchanged; muted forces speaking off). None when the
        user is not in the room."""
        ...

    async def participants(self, party_id: uuid.UUID) -> list[VoiceState]: ...

    async def start_share(
        self, party_id: uuid.UUID, user_id: uuid.UUID, now_ms: int, limit: int
    ) -> tuple[int, ScreenShare | None]:
        """`ShareOutcome` and the share (the existing one when ALREADY; None when FULL)."""
        ...

    async def stop_share(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...

    async def shares(self, party_id: uuid.UUID) -> list[ScreenShare]: ...


def _updated(current: VoiceState, muted: bool | None, speaking: bool | None) -> VoiceState:
    new_muted = current.muted if muted is None else muted
    new_speaking = current.speaking if speaking is None else speaking
    if new_muted:
        new_speaking = False  # a muted member is heard by nobody
    return VoiceState(current.user_id, new_muted, new_speaking, current.joined_ms)


# -- memory ------------------------------------------------------------------------------------


class MemoryVoiceStore:
    """One process's voice rooms (embedded mode). Methods never await between read and write."""

    def __init__(self) -> None:
        self._voice: dict[uuid.UUID, dict[uuid.UUID, VoiceState]] = {}
        self._shares: dict[uuid.UUID, dict[uuid.UUID, ScreenShare]] = {}

    async def join(self, party_id: uuid.UUID, state: VoiceState) -> Change:
        room = self._voice.setdefault(party_id, {})
        current = room.get(state.user_id)
        if current is not None:
            return Change(current, False)
        room[state.user_id] = state
        return Change(state, True)

    async def leave(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        room = self._voice.get(party_id, {})
        gone = room.pop(user_id, None) is not None
        if not room:
            self._voice.pop(party_id, None)
        return gone

    async def update(
        self, party_id: uuid.UUID, user_id: uuid.UUID, muted: bool | None, speaking: bool | None
    ) -> Change | None:
        room = self._voice.get(party_id, {})
        current = room.get(user_id)
        if current is None:
            return None
        new = _updated(current, muted, speaking)
        room[user_id] = new
        return Change(new, new != current)

    async def participants(self, party_id: uuid.UUID) -> list[VoiceState]:
        return sorted(self._voice.get(party_id, {}).values(), key=_voice_order)

    async def start_share(
        self, party_id: uuid.UUID, user_id: uuid.UUID, now_ms: int, limit: int
    ) -> tuple[int, ScreenShare | None]:
        shares = self._shares.setdefault(party_id, {})
        current = shares.get(user_id)
        if current is not None:
            return ShareOutcome.ALREADY, current
        if len(shares) >= limit:
            return ShareOutcome.FULL, None
        share = shares[user_id] = ScreenShare(user_id, now_ms)
        return ShareOutcome.STARTED, share

    async def stop_share(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        shares = self._shares.get(party_id, {})
        gone = shares.pop(user_id, None) is not None
        if not shares:
            self._shares.pop(party_id, None)
        return gone

    async def shares(self, party_id: uuid.UUID) -> list[ScreenShare]:
        return sorted(self._shares.get(party_id, {}).values(), key=_share_order)


def _voice_order(state: VoiceState) -> tuple[int, str]:
    return state.joined_ms, str(state.user_id)


def _share_order(share: ScreenShare) -> tuple[int, str]:
    return share.started_ms, str(share.user_id)


# -- Redis -------------------------------------------------------------------------------------

# KEYS: room hash. ARGV: user, encoded state, key ttl. Returns {1, new} or {0, current}.
_JOIN = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if current then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, ARGV[2]}
"""

# KEYS: room hash. ARGV: user, muted ('' | '0' | '1'), speaking (same), key ttl.
# Returns nil (not in the room), {0, current} or {1, new}.
_UPDATE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
local muted = string.sub(current, 1, 1)
local speaking = string.sub(current, 2, 2)
if ARGV[2] ~= '' then muted = ARGV[2] end
if ARGV[3] ~= '' then speaking = ARGV[3] end
if muted == '1' then speaking = '0' end
local new = muted .. speaking .. string.sub(current, 3)
if new == current then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], new)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, new}
"""

# KEYS: shares hash. ARGV: user, now ms, limit, key ttl. Returns {outcome, started ms}.
_START_SHARE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then return {0, current} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {-1, ''} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, ARGV[2]}
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _flag(value: bool | None) -> str:
    return "" if value is None else str(int(value))


class RedisVoiceStore:
    """Voice rooms shared by every API process (see the module docstring)."""

    def __init__(self, redis: Redis, *, prefix: str = "") -> None:
        self.redis = redis
        self.prefix = prefix
        self._join = redis.register_script(_JOIN)
        self._update = redis.register_script(_UPDATE)
        self._start_share = redis.register_script(_START_SHARE)

    # One hash tag per party: a script's keys live in one cluster slot.
    def _room_key(self, party_id: uuid.UUID) -> str:
        return f"{self.prefix}voice:{{{party_id}}}:room"

    def _shares_key(self, party_id: uuid.UUID) -> str:
        return f"{self.prefix}voice:{{{party_id}}}:shares"

    async def join(self, party_id: uuid.UUID, state: VoiceState) -> Change:
        args: list[Any] = [str(state.user_id), state.encode(), KEY_TTL_SECONDS]
        changed, value = await self._join(keys=[self._room_key(party_id)], args=args)
        return Change(VoiceState.decode(state.user_id, _text(value)), bool(int(changed)))

    async def leave(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return bool(await self.redis.hdel(self._room_key(party_id), str(user_id)))  # type: ignore[misc]

    async def update(
        self, party_id: uuid.UUID, user_id: uuid.UUID, muted: bool | None, speaking: bool | None
    ) -> Change | None:
        args: list[Any] = [str(user_id), _flag(muted), _flag(speaking), KEY_TTL_SECONDS]
        result = await self._update(keys=[self._room_key(party_id)], args=args)
        if result is None:
            return None
        changed, value = result
        return Change(VoiceState.decode(user_id, _text(value)), bool(int(changed)))

    async def participants(self, party_id: uuid.UUID) -> list[VoiceState]:
        raw = await self.redis.hgetall(self._room_key(party_id))  # type: ignore[misc]
        states = [VoiceState.decode(uuid.UUID(_text(k)), _text(v)) for k, v in raw.items()]
        return sorted(states, key=_voice_order)

    async def start_share(
        self, party_id: uuid.UUID, user_id: uuid.UUID, now_ms: int, limit: int
    ) -> tuple[int, ScreenShare | None]:
        args: list[Any] = [str(user_id), now_ms, limit, KEY_TTL_SECONDS]
        outcome, started = await self._start_share(keys=[self._shares_key(party_id)], args=args)
        outcome = int(outcome)
        if outcome == ShareOutcome.FULL:
            return outcome, None
        return outcome, ScreenShare(user_id, int(_text(started)))

    async def stop_share(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return bool(await self.redis.hdel(self._shares_key(party_id), str(user_id)))  # type: ignore[misc]

    async def shares(self, party_id: uuid.UUID) -> list[ScreenShare]:
        raw = await self.redis.hgetall(self._shares_key(party_id))  # type: ignore[misc]
        found = [ScreenShare(uuid.UUID(_text(k)), int(_text(v))) for k, v in raw.items()]
        return sorted(found, key=_share_order)


# -- the accessor ------------------------------------------------------------------------------


def get_voice_store(state: AppState) -> VoiceStore:
    """This process's store, created on first use and kept in `state.extras`."""
    store = state.extras.get(EXTRAS_KEY)
    if store is None:
        if state.redis is not None:
            store = RedisVoiceStore(state.redis, prefix=state.settings.redis_key_prefix)
        else:
            store = MemoryVoiceStore()
        state.extras[EXTRAS_KEY] = store
    return store  # type: ignore[no-any-return]
