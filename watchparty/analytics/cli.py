"""`watchparty user grant-staff EMAIL` / `revoke-staff EMAIL`: the staff role (`staff.py`).

A failure is a `Problem` (the composition root prints `error: ...`, exit code 2). The database
side is imported when a command runs, like the other commands.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from watchparty.config import load_settings


async def _set_staff(email: str, staff: bool) -> str:
    from watchparty.analytics.staff import set_staff
    from watchparty.db import create_engine, create_sessionmaker

    settings = load_settings()
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await set_staff(session, email, staff)
            await session.commit()
            return user.email
    finally:
        await engine.dispose()


def _run(staff: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        email = asyncio.run(_set_staff(args.email, staff))
        print(f"{email}: {'staff' if staff else 'not staff'}")
        return 0

    return run


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `user` command group (the composition root's `cli.py` calls this)."""
    user = sub.add_parser("user", help="account roles (staff)")
    commands = user.add_subparsers(dest="user_command", required=True)
    grant = commands.add_parser(
        "grant-staff", help="let an account read the system's analytics and run aggregations"
    )
    grant.add_argument("email")
    grant.set_defaults(run=_run(True))
    revoke = commands.add_parser("revoke-staff", help="take the staff role away")
    revoke.add_argument("email")
    revoke.set_defaults(run=_run(False))
