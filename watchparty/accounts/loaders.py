"""Per-operation DataLoaders for accounts. Each batch uses its own short session.

`user_loader_of(info.context.loaders)` is the operation's loader, registered by name in the
operation's registry (`watchparty.loaders`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from watchparty.accounts.models import AuthSession, User
from watchparty.loaders import Loaders


def user_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[uuid.UUID, User | None]:
    async def load(ids: Sequence[uuid.UUID]) -> list[User | None]:
        async with sessionmaker() as session:
            rows = await session.scalars(select(User).where(User.id.in_(ids)))
            found = {u.id: u for u in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def auth_session_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[uuid.UUID, AuthSession | None]:
    async def load(ids: Sequence[uuid.UUID]) -> list[AuthSession | None]:
        async with sessionmaker() as session:
            rows = await session.scalars(select(AuthSession).where(AuthSession.id.in_(ids)))
            found = {s.id: s for s in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def user_loader_of(loaders: Loaders) -> DataLoader[uuid.UUID, User | None]:
    """The operation's users by id."""
    return loaders.get("accounts.user", lambda state: user_loader(state.sessionmaker))


def auth_session_loader_of(loaders: Loaders) -> DataLoader[uuid.UUID, AuthSession | None]:
    """The operation's sign-ins (refresh families) by id."""
    return loaders.get(
        "accounts.auth_session", lambda state: auth_session_loader(state.sessionmaker)
    )
