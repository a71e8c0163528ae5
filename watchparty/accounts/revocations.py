"""Ending a revoked sign-in everywhere: every open WebSocket of that session closes with 4403.

HTTP needs nothing of this: every request checks its access token's session. A WebSocket checks
its token once, at `connection_init`, so each API process keeps a registry of its signed-in
sockets by session id (`SessionWatch`), and a revocation reaches every process like this:

- the code that revokes (`tokens.revoke_family`, `tokens.revoke_user_sessions`) notes the session
  ids on the SQLAlchemy session; the boundary that commits calls `announce_after_commit`, so only
  a committed revocation is announced;
- after the commit, this process closes its own sockets of those sessions at once (Redis is not
  needed for that), then publishes the ids on the `<prefix>session-revocations` broadcast channel;
- every process listens on that channel and closes its sockets of the announced sessions.

A message can be lost (a publish while Redis is down, a process reconnecting). Two safety nets:
when the broadcast backend reconnects it announces the resubscription, and the watch then checks
every open socket's session against the database; and it does the same every
`WS_SESSION_RECHECK_SECONDS` anyway (one query per 500 open sessions). So a missed message costs
at most that long, never the access token's remaining lifetime.

A socket registers before its session is checked at `connection_init` (see `gql.view`): a
revocation committed after the check is announced after the registration, so none falls in
between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Protocol

from broadcaster import Broadcast
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from watchparty.accounts.checked_sessions import CheckedSessions, checked_sessions
from watchparty.accounts.models import AuthSession, User
from watchparty.accounts.tokens import revoked_in
from watchparty.db import UnitOfWork

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

REVOKED_CLOSE_CODE = 4403
REVOKED_CLOSE_REASON = "Session revoked"
EXTRAS_KEY = "accounts.session_watch"
RECHECK_BATCH = 500


class Closable(Protocol):
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def channel_name(prefix: str) -> str:
    return f"{prefix}session-revocations"


class SessionWatch:
    """This process's signed-in sockets by session id, closed when their session is revoked."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broadcast: Broadcast,
        *,
        channel: str,
        recheck_seconds: float,
        checked: CheckedSessions | None = None,
    ) -> None:
        self.checked = checked
        self.sessionmaker = sessionmaker
        self.broadcast = broadcast
        self.channel = channel
        self.recheck_seconds = recheck_seconds
        self._sockets: dict[uuid.UUID, set[Closable]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()

    # -- the registry (O(1) per socket) ----------------------------------------------------------

    def register(self, session_id: uuid.UUID, socket: Closable) -> None:
        self._sockets.setdefault(session_id, set()).add(socket)

    def unregister(self, session_id: uuid.UUID, socket: Closable) -> None:
        sockets = self._sockets.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session_id]

    @property
    def socket_count(self) -> int:
        return sum(len(sockets) for sockets in self._sockets.values())

    def close_sessions(self, session_ids: Iterable[uuid.UUID]) -> int:
        """Close (in the background) every socket of these sessions; returns how many. HTTP
        requests of these sessions are checked in the database again from now on."""
        closed = 0
        session_ids = list(session_ids)
        if self.checked is not None:
            self.checked.forget(session_ids)
        for session_id in session_ids:
            for socket in self._sockets.pop(session_id, ()):
                task = asyncio.create_task(_close(socket), name="close-revoked-socket")
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                closed += 1
        if closed:
            log.info("closed the sockets of revoked sessions", extra={"sockets": closed})
        return closed

    async def recheck(self) -> int:
        """Close the sockets whose session was revoked (or whose user was disabled) without this
        process hearing about it. Returns how many sockets it closed."""
        ids = list(self._sockets)
        ended: list[uuid.UUID] = []
        for start in range(0, len(ids), RECHECK_BATCH):
            batch = ids[start : start + RECHECK_BATCH]
            async with self.sessionmaker() as session:
                alive = set(
                    await session.scalars(
                        select(AuthSession.id)
                        .join(User, User.id == AuthSession.user_id)
                        .where(
                            AuthSession.id.in_(batch),
                            AuthSession.revoked_at.is_(None),
                            User.is_active.is_(True),
                        )
                    )
                )
            ended += [session_id for session_id in batch if session_id not in alive]
        return self.close_sessions(ended)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the channel (returns once subscribed) and start the periodic recheck."""
        subscribed = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.create_task(self._listen(subscribed), name="session-watch"))
        await subscribed
        if self.recheck_seconds > 0:
            self._tasks.append(asyncio.create_task(self._recheck_forever(), name="session-recheck"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._closing, return_exceptions=True)

    async def _listen(self, subscribed: asyncio.Future[None]) -> None:
        try:
            async with self.broadcast.subscribe(self.channel) as subscriber:
                subscribed.set_result(None)
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is None:
                        continue
                    await self._on_message(event.message)
        except BaseException as exc:
            if not subscribed.done():
                subscribed.set_exception(exc)
            raise

    async def _on_message(self, message: str) -> None:
        if message == "":  # the backend reconnected: anything may have been missed meanwhile
            await self._recheck_logged()
            return
        try:
            ids = [uuid.UUID(raw) for raw in json.loads(message)["sessions"]]
        except (ValueError, KeyError, TypeError):
            log.warning("malformed session revocation message ignored")
            return
        self.close_sessions(ids)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_seconds)
            await self._recheck_logged()

    async def _recheck_logged(self) -> None:
        try:
            closed = await self.recheck()
        except Exception:
            log.warning("revoked-session recheck failed", exc_info=True)
            return
        if closed:
            log.warning("recheck closed sockets of revoked sessions", extra={"sockets": closed})


async def _close(socket: Closable) -> None:
    with suppress(Exception):  # already closed, or the peer went away at the same moment
        await socket.close(code=REVOKED_CLOSE_CODE, reason=REVOKED_CLOSE_REASON)


def get_watch(state: AppState) -> SessionWatch | None:
    """This process's watch; None where no API server runs (the worker, a bare view in tests)."""
    watch = state.extras.get(EXTRAS_KEY)
    return watch if isinstance(watch, SessionWatch) else None


@asynccontextmanager
async def watching(state: AppState) -> AsyncIterator[SessionWatch]:
    """Run this process's watch for the lifetime of the API server (app lifespan)."""
    watch = SessionWatch(
        state.sessionmaker,
        state.broadcast,
        channel=channel_name(state.settings.redis_key_prefix),
        recheck_seconds=state.settings.ws_session_recheck_seconds,
        checked=checked_sessions(state),
    )
    await watch.start()
    state.extras[EXTRAS_KEY] = watch
    try:
        yield watch
    finally:
        state.extras.pop(EXTRAS_KEY, None)
        await watch.stop()


async def announce(state: AppState, session_ids: Iterable[uuid.UUID]) -> None:
    """Close these sessions' sockets here, then tell every other process. Call after commit.

    Never raises: a lost message is caught by the other processes' recheck."""
    ids = sorted(set(session_ids))
    if not ids:
        return
    checked_sessions(state).forget(ids)
    watch = get_watch(state)
    if watch is not None:
        watch.close_sessions(ids)
    message = json.dumps({"v": 1, "sessions": [str(i) for i in ids]})
    try:
        await state.broadcast.publish(channel_name(state.settings.redis_key_prefix), message)
    except Exception:
        log.warning("session revocation not published", exc_info=True)


def announce_after_commit(uow: UnitOfWork) -> None:
    """Announce the sessions revoked in `uow` once it commits (nothing for a rollback)."""
    state = uow.app

    async def _announce() -> None:
        pending = revoked_in(uow.session)
        ids = list(pending)
        pending.clear()
        await announce(state, ids)

    uow.after_commit(_announce)
