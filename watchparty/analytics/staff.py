"""The staff role (GraphQL-free): who reads the system's figures and runs aggregations.

`users.is_staff` is set only from the command line (`watchparty user grant-staff EMAIL`,
`revoke-staff EMAIL`, `analytics/cli.py`), never through the API. Staff may read `systemStats`,
export SYSTEM and request an aggregation run (`runAnalyticsAggregation`, through
`aggregate.jobs.request_aggregation`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.errors import NotAllowed, NotFound


async def set_staff(session: AsyncSession, email: str, staff: bool) -> User:
    """Grant or revoke the role; NotFound for an unknown address (the caller commits)."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No account uses {email.strip()!r}.", field="email")
    user.is_staff = staff
    await session.flush()
    return user


def require_staff(viewer: User) -> None:
    if not viewer.is_staff:
        raise NotAllowed("Only staff may do that.")
