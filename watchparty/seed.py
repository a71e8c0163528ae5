"""`watchparty seed-demo`: a small demo data set with known credentials (never for production).

Idempotent: running it again leaves one copy of everything, restores the demo password if it was
changed and keeps the emails verified. Later capabilities add their demo data here (a party, a
queue, chat) keyed by the same fixed identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import passwords
from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.config import ConfigurationError, Settings
from watchparty.kit.time import utcnow
from watchparty.state import build_state

if TYPE_CHECKING:
    from watchparty.parties.models import Party
    from watchparty.state import AppState

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


DEMO_PARTY_TITLE = "Demo night: open movies"
# Short, openly licensed films, so the demo party has a queue a player can actually load.
DEMO_QUEUE = (
    (
        "Big Buck Bunny",
        "https://download.blender.org/peach/bigbuckbunny_movies/BigBuckBunny_320x180.mp4",
        596.0,
    ),
    (
        "Sintel (trailer)",
        "https://download.blender.org/durian/trailer/sintel_trailer-480p.mp4",
        52.0,
    ),
    ("Elephants Dream", "https://download.blender.org/ed/ElephantsDream.mp4", 653.0),
)


async def seed_demo_party(state: AppState, users: dict[str, User]) -> Party:
    """A LIVE public party hosted by Alice, with Bob and Carol in it and a three-film queue."""
    from watchparty.parties import membership, service
    from watchparty.parties.models import MemberRole, Party, PartyMember
    from watchparty.parties.playback_queue import add_to_queue
    from watchparty.parties.validation import Media

    alice, bob, carol = (users[d.email] for d in DEMO_USERS)
    async with state.unit_of_work() as uow:
        existing = await uow.session.scalar(
            select(Party).where(
                Party.host_id == alice.id,
                Party.title == DEMO_PARTY_TITLE,
                Party.deleted_at.is_(None),
            )
        )
        if existing is not None:
            found: Party = existing
            return found
        title, url, duration = DEMO_QUEUE[0]
        party = await service.create_party(
            uow.session,
            alice.id,
            title=DEMO_PARTY_TITLE,
            description="A demo party from `watchparty seed-demo`.",
            media=Media(url=url, title=title, duration_seconds=duration),
        )
    outbox = service.Outbox()
    for guest in (bob, carol):
        async with state.unit_of_work() as uow:
            await membership.join_party(uow.session, outbox, guest.id, party_id=str(party.id))
            await outbox.record(uow, state)
    async with state.unit_of_work() as uow:
        bob_row = await uow.session.scalar(
            select(PartyMember).where(
                PartyMember.party_id == party.id, PartyMember.user_id == bob.id
            )
        )
        assert bob_row is not None
        bob_row.role = MemberRole.COHOST
    for title, url, duration in DEMO_QUEUE[1:]:
        async with state.unit_of_work() as uow:
            media = Media(url=url, title=title, duration_seconds=duration)
            await add_to_queue(uow, state, alice.id, str(party.id), media, None)
    return party


@dataclass(frozen=True, slots=True)
class DemoData:
    users: list[DemoUser]
    party_title: str
    party_code: str
    party_id: str


async def seed_demo(settings: Settings) -> DemoData:
    """Create or repair the demo users and the demo party; returns the users."""
    if settings.is_production:
        raise ConfigurationError(
            "seed-demo creates accounts with a published password; "
            "it refuses to run with APP_ENV=production"
        )
    results: list[DemoUser] = []
    users: dict[str, User] = {}
    async with build_state(settings) as state:
        async with state.unit_of_work() as uow:
            await _seed_users(uow.session, results, users)
        party = await seed_demo_party(state, users)
    return DemoData(results, party.title, party.code, str(party.id))


async def _seed_users(
    session: AsyncSession, results: list[DemoUser], users: dict[str, User]
) -> None:
    for demo in DEMO_USERS:
        user = await find_user_by_email(session, demo.email)
        created = user is None
        if user is None:
            user = User(email=demo.email, display_name=demo.display_name)
            session.add(user)
        if not passwords.verify_password(user.password_hash, DEMO_PASSWORD):
            user.password_hash = passwords.hash_password(DEMO_PASSWORD)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        user.is_active = True
        await session.flush()
        users[demo.email] = user
        results.append(DemoUser(demo.email, demo.display_name, created))
