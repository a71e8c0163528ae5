"""`watchparty seed-demo`: a small demo data set with known credentials (never for production).

Idempotent: running it again leaves one copy of everything, restores the demo password if it was
changed and keeps the emails verified. Later capabilities add their demo data here (a party, a
queue, chat, a poll, reactions, a processed sample video: `seed_video.py`) keyed by the same
fixed identifiers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import passwords
from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.analytics.demo import aggregate_now, seed_demo_events
from watchparty.config import ConfigurationError, Settings
from watchparty.kit.time import utcnow
from watchparty.registry import job_functions, periodic_jobs
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
    from watchparty.parties import joining, service
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
            uow,
            alice.id,
            title=DEMO_PARTY_TITLE,
            description="A demo party from `watchparty seed-demo`.",
            media=Media(url=url, title=title, duration_seconds=duration),
        )
    for guest in (bob, carol):
        async with state.unit_of_work() as uow:
            await joining.join_party(uow, guest.id, party_id=str(party.id))
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
            await add_to_queue(uow, alice.id, str(party.id), media, None)
    return party


# (clientId, author index in DEMO_USERS, body, clientId of the message it answers)
DEMO_CHAT = (
    ("seed-demo-01", 0, "Welcome to demo night! First up: Big Buck Bunny.", None),
    ("seed-demo-02", 1, "Popcorn ready 🍿", None),
    ("seed-demo-03", 2, "Hi all! First time here: how do we stay in sync?", None),
    ("seed-demo-04", 0, "Nothing to do: everyone's player follows the party's.", "seed-demo-03"),
    ("seed-demo-05", 2, "Oh nice, it jumped right to where you are.", None),
    ("seed-demo-06", 1, "That bunny is enormous.", None),
    ("seed-demo-07", 2, "Those three rodents are up to no good.", None),
    ("seed-demo-08", 0, "Wait for the butterfly scene.", None),
    ("seed-demo-09", 1, "The animation still holds up, and it is from 2008!", None),
    ("seed-demo-10", 2, "Made by the Blender Foundation, right?", None),
    ("seed-demo-11", 0, "Yes: all three films tonight are open movies.", None),
    ("seed-demo-12", 1, "Vote in the poll for our next movie night!", None),
)
# (reacting user index, clientId of the message, emoji)
DEMO_MESSAGE_REACTIONS = (
    (2, "seed-demo-04", "👍"),
    (0, "seed-demo-06", "😂"),
)
DEMO_POLL_QUESTION = "Which open movie next time?"
DEMO_POLL_OPTIONS = ("Tears of Steel", "Cosmos Laundromat", "Spring")
DEMO_POLL_VOTES = ((1, 0), (2, 2))  # (user index, option index)
# (user index, emoji, position in seconds in the first film, x, y)
DEMO_LIVE_REACTIONS = (
    (0, "🍿", 2.0, 0.5, 0.8),
    (0, "🔥", 12.0, 0.2, 0.3),
    (1, "🔥", 13.0, 0.7, 0.4),
    (2, "😂", 14.5, 0.4, 0.6),
    (1, "😮", 61.0, 0.6, 0.2),
    (2, "😮", 62.5, 0.3, 0.5),
    (2, "👏", 590.0, 0.5, 0.5),
)


async def seed_demo_social(state: AppState, users: dict[str, User], party: Party) -> None:
    """Chat history (with a reply and message reactions), an open poll with votes and live
    reactions counted on the first film, through the domain services. Each piece is keyed so
    that running again adds nothing: messages by clientId (a retry answers the same message),
    message reactions and votes are set (not added), the poll by its question, and the live
    reactions are sent only while the party has none counted."""
    from watchparty.chat.service import NewMessage, react, send_message

    people = [users[d.email] for d in DEMO_USERS]
    party_id = str(party.id)
    message_ids: dict[str, str] = {}
    for client_id, author, body, reply_to in DEMO_CHAT:
        reply_id = None if reply_to is None else message_ids[reply_to]
        async with state.unit_of_work() as uow:
            new = NewMessage(party_id, body, reply_to_id=reply_id, client_id=client_id)
            message_ids[client_id] = (await send_message(uow, people[author].id, new))["id"]
    for who, client_id, emoji in DEMO_MESSAGE_REACTIONS:
        async with state.unit_of_work() as uow:
            await react(uow, people[who].id, message_ids[client_id], emoji, add=True)
    await _seed_poll(state, people, party)
    await _seed_live_reactions(state, people, party)


async def _seed_poll(state: AppState, people: list[User], party: Party) -> None:
    from watchparty.polls.models import Poll, PollOption
    from watchparty.polls.service import PollDraft, create_poll, vote_poll

    async with state.unit_of_work() as uow:
        poll_id = await uow.session.scalar(
            select(Poll.id).where(Poll.party_id == party.id, Poll.question == DEMO_POLL_QUESTION)
        )
        if poll_id is None:
            draft = PollDraft(DEMO_POLL_QUESTION, list(DEMO_POLL_OPTIONS))
            created = await create_poll(uow, people[0].id, str(party.id), draft)
            poll_id = uuid.UUID(created.poll["id"])
    async with state.unit_of_work() as uow:
        option_ids = list(
            await uow.session.scalars(
                select(PollOption.id)
                .where(PollOption.poll_id == poll_id)
                .order_by(PollOption.position)
            )
        )
    for who, option in DEMO_POLL_VOTES:
        async with state.unit_of_work() as uow:
            await vote_poll(uow, people[who].id, str(poll_id), [str(option_ids[option])])


async def _seed_live_reactions(state: AppState, people: list[User], party: Party) -> None:
    from watchparty.reactions.models import ReactionTotal
    from watchparty.reactions.service import ReactionDraft, send_reaction

    async with state.unit_of_work() as uow:
        counted = await uow.session.scalar(
            select(ReactionTotal.emoji).where(ReactionTotal.party_id == party.id).limit(1)
        )
    if counted is not None:
        return
    for who, emoji, position, x, y in DEMO_LIVE_REACTIONS:
        async with state.unit_of_work() as uow:
            draft = ReactionDraft(emoji, position, x, y)
            await send_reaction(uow, people[who].id, str(party.id), draft)


async def seed_demo_notifications(state: AppState, users: dict[str, User], party: Party) -> None:
    """Alice's invitation to the demo party in Bob's and Carol's feeds, through `notify` like any
    producer; once (an invitation of that party already in a feed, read or not, is kept).

    The chat history already notified Carol of Alice's reply and Bob and Carol of the poll, and
    processing the sample video notified Alice that it is ready: each once, since the seed
    sends each message, creates the poll and processes the video once."""
    from watchparty.notifications.models import Notification, NotificationKind, SubjectType
    from watchparty.notifications.service import Subject, notify

    alice, bob, carol = (users[d.email] for d in DEMO_USERS)
    party_id = str(party.id)
    async with state.unit_of_work() as uow:
        invited = set(
            await uow.session.scalars(
                select(Notification.recipient_id).where(
                    Notification.kind == NotificationKind.PARTY_INVITE,
                    Notification.subject_id == party_id,
                    Notification.recipient_id.in_([bob.id, carol.id]),
                )
            )
        )
        await notify(
            uow,
            [user.id for user in (bob, carol) if user.id not in invited],
            NotificationKind.PARTY_INVITE,
            actor_id=alice.id,
            subject=Subject(SubjectType.PARTY, party_id),
            data={"partyId": party_id, "partyTitle": party.title},
            group_key=f"invite:{party_id}",
        )


@dataclass(frozen=True, slots=True)
class DemoData:
    users: list[DemoUser]
    party_title: str
    party_code: str
    party_id: str
    sample_video_id: str | None = None  # None: ffmpeg missing or failing (a note said why)


async def seed_demo(settings: Settings) -> DemoData:
    """Create or repair the demo users and the demo party with its chat, poll and reactions,
    Alice's processed sample video in the party's queue, and notifications about them."""
    from watchparty.seed_video import seed_sample_video

    if settings.is_production:
        raise ConfigurationError(
            "seed-demo creates accounts with a published password; "
            "it refuses to run with APP_ENV=production"
        )
    results: list[DemoUser] = []
    users: dict[str, User] = {}
    async with build_state(settings, functions=job_functions(), periodics=periodic_jobs()) as state:
        async with state.unit_of_work() as uow:
            await _seed_users(uow.session, results, users)
        party = await seed_demo_party(state, users)
        await seed_demo_social(state, users, party)
        sample_id = await seed_sample_video(state, users[DEMO_USERS[0].email], party)
        await seed_demo_notifications(state, users, party)
        async with state.unit_of_work() as uow:
            await seed_demo_events(
                uow.session,
                [users[demo.email].id for demo in DEMO_USERS],
                party.id,
                None if sample_id is None else uuid.UUID(sample_id),
            )
        await aggregate_now(state.sessionmaker, settings.billing_past_due_grace_days)
    return DemoData(results, party.title, party.code, str(party.id), sample_id)


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
