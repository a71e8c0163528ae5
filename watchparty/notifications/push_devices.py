"""Push devices: the FCM tokens a user registers (`registerPushToken`), lists and removes. No
GraphQL.

- A token belongs to one account at a time: registering it from another account moves it (the
  old owner's row is deleted first, so the device starts fresh for its new owner). Registering
  it again is idempotent: the same device, seen now.
- A device registered from a sign-in belongs to that sign-in too: revoking the sign-in
  (sign-out, `revokeSession`, refresh-token reuse, a password change or reset) deletes it
  (`sessions_revoked`, registered with accounts by `registry.py`), in the same transaction.
- At most PUSH_DEVICES_PER_USER devices per user: registering past the cap drops the least
  recently seen ones.
- Only your own: another person's token is `NotFound`, the same answer as an unknown one.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.db import UnitOfWork, upsert_insert
from watchparty.errors import NotFound, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.notifications.models import (
    DEVICE_NAME_MAX_LENGTH,
    PUSH_TOKEN_MAX_LENGTH,
    PushDevice,
    PushPlatform,
)

PUSH_TOKEN_MIN_LENGTH = 16
# FCM registration tokens (web, Android, iOS) are URL-safe: letters, digits, `_ - : .`.
_TOKEN = re.compile(r"[A-Za-z0-9_:.\-]+")


def check_token(token: str) -> str:
    if not PUSH_TOKEN_MIN_LENGTH <= len(token) <= PUSH_TOKEN_MAX_LENGTH:
        raise ValidationProblem(
            f"A push token has {PUSH_TOKEN_MIN_LENGTH} to {PUSH_TOKEN_MAX_LENGTH} characters.",
            field="token",
        )
    if not _TOKEN.fullmatch(token):
        raise ValidationProblem(
            "A push token has only letters, digits and _ - : . characters.", field="token"
        )
    return token


def _device_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = " ".join(raw.split())
    if len(name) > DEVICE_NAME_MAX_LENGTH:
        raise ValidationProblem(
            f"A device name has at most {DEVICE_NAME_MAX_LENGTH} characters.", field="deviceName"
        )
    return name or None


async def register_device(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    session_id: uuid.UUID | None,
    token: str,
    platform: PushPlatform,
    device_name: str | None,
) -> PushDevice:
    """Register (or refresh) `token` for the viewer's sign-in `session_id`; returns the device.
    A left-out `device_name` keeps the stored one."""
    check_token(token)
    name = _device_name(device_name)
    cap = uow.app.settings.push_devices_per_user
    session = uow.session
    now = utcnow()
    # A token that moves to this account leaves its old owner entirely.
    await session.execute(
        delete(PushDevice)
        .where(PushDevice.token == token, PushDevice.user_id != viewer_id)
        .execution_options(synchronize_session=False)
    )
    upsert = upsert_insert(session)
    statement: Any = upsert(PushDevice).values(
        id=uuid.uuid4(),
        user_id=viewer_id,
        auth_session_id=session_id,
        token=token,
        platform=platform,
        device_name=name,
        created_at=now,
        last_seen_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["token"],
        set_={
            "user_id": statement.excluded.user_id,
            "auth_session_id": statement.excluded.auth_session_id,
            "platform": statement.excluded.platform,
            "device_name": func.coalesce(statement.excluded.device_name, PushDevice.device_name),
            "last_seen_at": statement.excluded.last_seen_at,
        },
    )
    device: PushDevice = (
        await session.scalars(
            statement.returning(PushDevice).execution_options(populate_existing=True)
        )
    ).one()
    # Past the cap: the least recently seen devices go (never the one just registered).
    surplus = (
        select(PushDevice.id)
        .where(PushDevice.user_id == viewer_id, PushDevice.id != device.id)
        .order_by(PushDevice.last_seen_at.desc(), PushDevice.created_at.desc(), PushDevice.id)
        .offset(cap - 1)
    )
    await session.execute(
        delete(PushDevice)
        .where(PushDevice.id.in_(list(await session.scalars(surplus))))
        .execution_options(synchronize_session=False)
    )
    return device


async def unregister_device(uow: UnitOfWork, viewer_id: uuid.UUID, token: str) -> uuid.UUID:
    """Remove one of the viewer's tokens; returns the device id it had."""
    removed = await uow.session.scalar(
        delete(PushDevice)
        .where(PushDevice.token == token, PushDevice.user_id == viewer_id)
        .returning(PushDevice.id)
        .execution_options(synchronize_session=False)
    )
    if removed is None:
        raise NotFound("Push token not found.", field="token")
    return removed


async def list_devices(session: AsyncSession, viewer_id: uuid.UUID) -> list[PushDevice]:
    """The viewer's devices, most recently seen first."""
    rows = await session.scalars(
        select(PushDevice)
        .where(PushDevice.user_id == viewer_id)
        .order_by(PushDevice.last_seen_at.desc(), PushDevice.id)
    )
    return list(rows)


async def sessions_revoked(session: AsyncSession, session_ids: frozenset[uuid.UUID]) -> None:
    """Accounts' revocation hook: the revoked sign-ins' devices are unregistered."""
    await session.execute(
        delete(PushDevice)
        .where(PushDevice.auth_session_id.in_(list(session_ids)))
        .execution_options(synchronize_session=False)
    )
