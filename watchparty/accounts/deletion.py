"""`deleteAccount`: the account goes for good (GraphQL-free, never commits).

- Proof: the password for a password account; an account without one (social sign-in only)
  must have signed in within `RECENT_SIGN_IN` (the current sign-in's start), so a stolen
  access token alone deletes nothing. Wrong passwords are rate limited like a sign-in.
- Every sign-in is revoked (their sockets close after the commit, like any revocation), the
  registered hooks run (`deletion_hooks`: parties hands over the parties the account is in,
  analytics anonymizes its events), then the user's row is deleted: the database cascades the
  rest (sign-ins, memberships, videos, notifications, subscriptions, the analytics days of the
  user) and sets authorship to null where others keep the content (chat messages, polls).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete

from watchparty.accounts import passwords, revocations, tokens
from watchparty.accounts.deletion_hooks import account_deleted
from watchparty.accounts.models import AuthSession, User
from watchparty.db import UnitOfWork
from watchparty.errors import InvalidCredentials, NotAuthenticated
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow

RECENT_SIGN_IN = timedelta(minutes=10)


async def delete_account(
    uow: UnitOfWork, viewer_id: uuid.UUID, *, current_session_id: uuid.UUID, password: str | None
) -> uuid.UUID:
    session, settings = uow.session, uow.app.settings
    user = await session.get(User, viewer_id)
    if user is None or not user.is_active:
        raise NotAuthenticated()
    if user.password_hash is not None:
        await uow.app.limiter.hit(
            f"password:user:{user.id}", Limit.parse(settings.rate_limit_login_account)
        )
        if not password or not passwords.verify_password(user.password_hash, password):
            raise InvalidCredentials("Password is incorrect.", field="password")
    else:
        current = await session.get(AuthSession, current_session_id)
        if current is None or utcnow() - current.created_at > RECENT_SIGN_IN:
            raise InvalidCredentials(
                "Sign in again (within the last 10 minutes) to delete your account.",
                field="password",
            )
    revocations.announce_after_commit(uow)  # every socket of the account closes
    await tokens.revoke_user_sessions(session, user.id, reason="account_deleted")
    await account_deleted(uow, user.id)
    await session.execute(delete(User).where(User.id == user.id))
    await session.flush()
    return user.id
