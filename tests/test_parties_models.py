"""The parties tables as migrated by Alembic, on PostgreSQL and SQLite.

No GraphQL exposes parties yet, so these go through the models and a real migrated database: the
defaults, the constraints the services will rely on, the cascade, and the revision-guarded
timeline update that makes playback changes atomic across processes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import CursorResult, Update, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support import unique_email
from watchparty.accounts.models import User
from watchparty.db import create_engine, create_sessionmaker
from watchparty.migrations import upgrade_to_head
from watchparty.parties.codes import generate_invite_token, generate_room_code, hash_invite_token
from watchparty.parties.models import (
    ControlPolicy,
    InviteLink,
    MemberRole,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
    QueueItem,
    timeline_of,
    timeline_values,
)
from watchparty.parties.timeline import PlaybackState, Timeline

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('parties') / 'parties.db'}"
    await upgrade_to_head(url)
    return url


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
    return url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def new_user(session: AsyncSession) -> User:
    user = User(email=unique_email("party"), display_name="Host")
    session.add(user)
    await session.flush()
    return user


async def new_party(session: AsyncSession, host: User, **values: object) -> Party:
    party = Party(title="Movie night", code=generate_room_code(), host_id=host.id, **values)
    session.add(party)
    await session.flush()
    return party


async def test_a_new_party_has_the_documented_defaults(sessions: Sessions) -> None:
    async with sessions() as session:
        party = await new_party(session, await new_user(session))
        await session.commit()
        party_id = party.id
    async with sessions() as session:
        loaded = await session.get_one(Party, party_id)
        assert (loaded.visibility, loaded.status, loaded.control_policy) == (
            PartyVisibility.PUBLIC,
            PartyStatus.SCHEDULED,
            ControlPolicy.HOST_ONLY,
        )
        assert (loaded.max_members, loaded.buffering_timeout_seconds) == (50, 8)
        assert (loaded.chat_enabled, loaded.reactions_enabled, loaded.wait_for_buffering) == (
            True,
            True,
            True,
        )
        assert loaded.require_approval is False
        assert loaded.description is None
        assert loaded.deleted_at is None
        assert loaded.created_at.tzinfo is UTC
        assert loaded.playback_state is PlaybackState.IDLE
        assert timeline_of(loaded, None) == Timeline()


async def test_the_timeline_update_is_guarded_by_the_revision(sessions: Sessions) -> None:
    async with sessions() as session:
        host = await new_user(session)
        party = await new_party(session, host)
        item = QueueItem(
            party_id=party.id,
            position=0,
            url="https://example.com/a.mp4",
            title="A",
            duration_seconds=120.0,
            added_by_id=host.id,
        )
        session.add(item)
        await session.commit()
        party_id, item_id = party.id, item.id

    before = Timeline()
    after = before.change_item(str(item_id), 120.0, 1_000.0, autoplay=True, lead_ms=300.0)
    after = after.begin_wait(1_500.0, ["b-user", "a-user"], 8_000.0)
    assert after.revision == 2

    def guarded(expected: int, timeline: Timeline) -> Update:
        return (
            update(Party)
            .where(Party.id == party_id, Party.revision == expected)
            .values(**timeline_values(timeline))
        )

    async with sessions() as session:
        result = await session.execute(guarded(before.revision, after))
        assert isinstance(result, CursorResult)
        assert result.rowcount == 1
        await session.commit()
    async with sessions() as session:
        # A second writer that also started from revision 0 changes nothing.
        stale = before.change_item(str(item_id), 120.0, 1_000.0, autoplay=False, lead_ms=300.0)
        result = await session.execute(guarded(before.revision, stale))
        assert isinstance(result, CursorResult)
        assert result.rowcount == 0
        await session.commit()

    async with sessions() as session:
        loaded = await session.get_one(Party, party_id)
        assert timeline_of(loaded, 120.0) == after
        assert loaded.waiting_for == ["a-user", "b-user"]
        raw = (
            await session.execute(
                text("SELECT playback_state, revision FROM parties WHERE code = :code"),
                {"code": loaded.code},
            )
        ).one()
        assert tuple(raw) == ("WAITING", 2)


async def test_a_user_is_a_member_of_a_party_at_most_once(sessions: Sessions) -> None:
    async with sessions() as session:
        host = await new_user(session)
        party = await new_party(session, host)
        session.add(PartyMember(party_id=party.id, user_id=host.id, role=MemberRole.HOST))
        await session.flush()
        member = await session.scalar(select(PartyMember).where(PartyMember.party_id == party.id))
        assert member is not None
        assert (member.role, member.status, member.ignore_wait) == (
            MemberRole.HOST,
            MemberStatus.ACTIVE,
            False,
        )
        session.add(PartyMember(party_id=party.id, user_id=host.id))
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


async def test_room_codes_are_unique(sessions: Sessions) -> None:
    code = generate_room_code()
    async with sessions() as session:
        host = await new_user(session)
        session.add(Party(title="One", code=code, host_id=host.id))
        await session.commit()
    async with sessions() as session:
        host = await new_user(session)
        session.add(Party(title="Two", code=code, host_id=host.id))
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


async def test_an_invite_is_found_by_the_hash_of_its_token(sessions: Sessions) -> None:
    token = generate_invite_token()
    async with sessions() as session:
        host = await new_user(session)
        party = await new_party(session, host, visibility=PartyVisibility.PRIVATE)
        session.add(
            InviteLink(
                party_id=party.id,
                token_hash=hash_invite_token(token),
                created_by_id=host.id,
                expires_at=datetime(2030, 1, 1, tzinfo=UTC),
                max_uses=5,
            )
        )
        await session.commit()
        party_id = party.id
    async with sessions() as session:
        found = await session.scalar(
            select(InviteLink).where(InviteLink.token_hash == hash_invite_token(token))
        )
        assert found is not None
        assert (found.party_id, found.uses, found.max_uses, found.revoked_at) == (
            party_id,
            0,
            5,
            None,
        )
        assert found.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
        missing = await session.scalar(
            select(InviteLink).where(InviteLink.token_hash == hash_invite_token(token + "x"))
        )
        assert missing is None


async def test_queue_order_and_cascade_on_party_delete(sessions: Sessions) -> None:
    async with sessions() as session:
        host = await new_user(session)
        party = await new_party(session, host)
        for position, title in [(20, "third"), (0, "first"), (10, "second")]:
            session.add(QueueItem(party_id=party.id, position=position, title=title))
        session.add(PartyMember(party_id=party.id, user_id=host.id, role=MemberRole.HOST))
        session.add(InviteLink(party_id=party.id, token_hash=hash_invite_token(str(uuid.uuid4()))))
        await session.commit()
        party_id = party.id

    async with sessions() as session:
        titles = await session.scalars(
            select(QueueItem.title)
            .where(QueueItem.party_id == party_id)
            .order_by(QueueItem.position)
        )
        assert list(titles) == ["first", "second", "third"]
        await session.execute(delete(Party).where(Party.id == party_id))
        await session.commit()

    async with sessions() as session:
        for model in (QueueItem, PartyMember, InviteLink):
            count = await session.scalar(
                select(func.count()).select_from(model).where(model.party_id == party_id)
            )
            assert count == 0, model


def test_timeline_of_clamps_a_position_past_a_corrected_duration() -> None:
    party = Party(
        playback_state=PlaybackState.PAUSED,
        current_item_id=uuid.UUID(int=7),
        position_seconds=95.0,
        anchor_ms=1_000.0,
        rate=1.0,
        revision=4,
        waiting_for=[],
        wait_deadline_ms=None,
    )
    assert timeline_of(party, 90.0) == Timeline(
        PlaybackState.PAUSED, str(uuid.UUID(int=7)), 90.0, 1_000.0, 1.0, 4, 90.0
    )
