"""`watchparty seed-demo`: a small demo data set with known credentials (never for production).

Idempotent: running it again leaves one copy of everything, restores the demo password if it was
changed and keeps the emails verified. Later capabilities add their demo data here (a party, a
queue, chat) keyed by the same fixed identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchparty.accounts import passwords
from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.config import ConfigurationError, Settings
from watchparty.kit.time import utcnow
from watchparty.state import build_state

DEMO_PASSWORD = "watchparty-demo"  # noqa: S105 - published on purpose, demo accounts only


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    display_name: str
    created: bool = False


# example.com is reserved for examples and passes email validation (a `.local` address does not).
DEMO_USERS = (
    DemoUser("alice@demo.example.com", "Alice (demo)"),
    DemoUser("bob@demo.example.com", "Bob (demo)"),
    DemoUser("carol@demo.example.com", "Carol (demo)"),
)


async def seed_demo(settings: Settings) -> list[DemoUser]:
    """Create or repair the demo users; returns them, marking which were created now."""
    if settings.is_production:
        raise ConfigurationError(
            "seed-demo creates accounts with a published password; "
            "it refuses to run with APP_ENV=production"
        )
    results: list[DemoUser] = []
    async with build_state(settings) as state, state.unit_of_work() as uow:
        for demo in DEMO_USERS:
            user = await find_user_by_email(uow.session, demo.email)
            created = user is None
            if user is None:
                user = User(email=demo.email, display_name=demo.display_name)
                uow.session.add(user)
            if not passwords.verify_password(user.password_hash, DEMO_PASSWORD):
                user.password_hash = passwords.hash_password(DEMO_PASSWORD)
            if user.email_verified_at is None:
                user.email_verified_at = utcnow()
            user.is_active = True
            results.append(DemoUser(demo.email, demo.display_name, created))
    return results
