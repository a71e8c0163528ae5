"""Engine, sessions and the unit of work.

A mutation opens one `UnitOfWork`, services only flush, and the boundary commits once. Work that
must not happen for a rolled-back change (jobs, published events) is registered with
`after_commit` and runs only once the commit succeeded.

Services that change something take `(uow, viewer_id, ...)`: the unit of work, then who acts
(an anonymous caller passes its `Client` or the token it holds), then the arguments; they return
a domain result or raise a `Problem`. The rest comes from the unit: `uow.session` (flush, never
commit), `uow.app` (settings, limiter, jobs), `uow.hub`, the outbox `events.record(uow, channel,
event)` (announced after the commit) and `uow.after_commit(...)`. Read-only helpers, and the
write steps a service is built from (`moderation_log.record_action`, `accounts.tokens`), take an
`AsyncSession`. System actors (jobs, sweeps, failover, the CLI) call the same services with a
unit of their own (`state.unit_of_work()`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, Uuid, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from watchparty.kit.time import utcnow

if TYPE_CHECKING:
    from watchparty.realtime import Hub
    from watchparty.state import AppState

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from datetime import UTC

            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def upsert_insert(session: AsyncSession) -> Any:
    """The INSERT construct of the session's database (PostgreSQL or SQLite), the one that
    offers `on_conflict_do_nothing` / `on_conflict_do_update` (same calls on both)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """What a service that changes something takes first: one session and one commit;
    callbacks registered with `after_commit` (events to announce, jobs to enqueue) run after it.

    `state` is the process's `AppState` (settings, hub, jobs, limiter) when the unit was opened
    with `state.unit_of_work()`, None otherwise; services read it through `app`, which refuses
    a unit without one. `hub` is its realtime hub (the outbox's announcer, see
    `watchparty.events.record`).
    """

    def __init__(self, session: AsyncSession, state: AppState | None = None) -> None:
        self.session = session
        self.state = state
        self.hub: Hub | None = None if state is None else state.hub
        self._after_commit: list[AfterCommit] = []

    @property
    def app(self) -> AppState:
        """The process's state (settings, hub, jobs, limiter): services read it from here."""
        if self.state is None:
            raise RuntimeError(
                "this unit of work has no app state: open it with state.unit_of_work()"
            )
        return self.state

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # the change is committed; a failed side effect must not undo it
                log.exception("after-commit callback failed")


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], state: AppState | None = None
) -> AsyncIterator[UnitOfWork]:
    """Commit when the block ends normally, roll back (and drop callbacks) when it raises.

    Services raising an expected `Problem` also roll back: nothing is ever half-applied.
    """
    async with sessionmaker() as session:
        uow = UnitOfWork(session, state)
        try:
            yield uow
        except BaseException:
            await session.rollback()
            raise
        await uow.commit()
