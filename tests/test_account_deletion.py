"""deleteAccount: a password proves it, sign-ins end, analytics events lose their person, a
hosted party is handed over."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from tests.parties_ops import cast, person
from tests.support import PASSWORD, Api
from watchparty.accounts.models import AuthSession, User
from watchparty.analytics.models import AnalyticsEvent, AnalyticsJob, EventSource
from watchparty.kit.time import utcnow
from watchparty.videos.storage import get_storage

DELETE = """mutation($input: DeleteAccountInput!) { deleteAccount(input: $input) {
    __typename ... on DeleteAccountPayload { userId } ... on UserError { code message field } } }"""


async def add_event(api: Api, user_id: str | None, event_id: str) -> None:
    now = utcnow()  # PostgreSQL holds partitions from today on (migration 0016)
    async with api.state.sessionmaker() as session:
        session.add(
            AnalyticsEvent(
                day=now.date(),
                id=event_id,
                name="page.view",
                source=EventSource.CLIENT,
                occurred_at=now,
                received_at=now,
                ingested_at=now,
                user_id=None if user_id is None else uuid.UUID(user_id),
                anonymous_id="anon-1" if user_id else "anon-2",
                properties={},
            )
        )
        await session.commit()


async def finished_export(api: Api, token: str) -> str:
    """Export the viewer's figures and wait for the file; its storage key."""
    result = await api.gql(
        """mutation { requestAnalyticsExport(input: {scope: ME}) {
            ... on AnalyticsJobPayload { job { id } } } }""",
        token=token,
    )
    job_id = result.data["requestAnalyticsExport"]["job"]["id"]
    for _ in range(200):
        await api.drain_jobs()
        async with api.state.sessionmaker() as session:
            job = await session.get(AnalyticsJob, uuid.UUID(job_id))
            assert job is not None
            if job.file_key is not None:
                return job.file_key
        await asyncio.sleep(0.05)
    raise AssertionError("the export did not finish")


async def test_delete_account_anonymizes_events_and_hands_over(any_api: Api) -> None:
    c = await cast(any_api)
    other = await person(any_api, "Other")
    mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
    await add_event(any_api, c.host.id, mine)
    await add_event(any_api, other.id, theirs)
    wrong = await any_api.gql(DELETE, {"input": {"password": "not it"}}, token=c.host.token)
    assert wrong.data["deleteAccount"] == {
        "__typename": "InvalidCredentials",
        "code": "INVALID_CREDENTIALS",
        "message": "Password is incorrect.",
        "field": "password",
    }
    anonymous = await any_api.gql(DELETE, {"input": {"password": PASSWORD}})
    assert anonymous.data["deleteAccount"]["__typename"] == "NotAuthenticated"
    key = await finished_export(any_api, c.host.token)
    done = await any_api.gql(DELETE, {"input": {"password": PASSWORD}}, token=c.host.token)
    assert done.data["deleteAccount"] == {"__typename": "DeleteAccountPayload", "userId": c.host.id}
    async with any_api.state.sessionmaker() as session:
        rows = {
            row.id: (row.user_id, row.anonymous_id)
            for row in await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.id.in_([mine, theirs]))
            )
        }
    assert rows == {mine: (None, None), theirs: (uuid.UUID(other.id), "anon-1")}
    assert await get_storage(any_api.state).size(key) is None  # the export's file went too
    # Signed out; the party went on with the co-host as its host.
    signed_out = await any_api.gql("{ me { id } }", token=c.host.token)
    assert signed_out.body["errors"][0]["extensions"]["reason"] == "SESSION_REVOKED"
    party = await any_api.gql(
        "query($id: ID!) { party(id: $id) { status host { id } } }",
        {"id": c.party["id"]},
        token=c.cohost.token,
    )
    assert party.data["party"]["host"] == {"id": c.cohost.id}


async def test_social_only_account_needs_a_recent_sign_in(api: Api) -> None:
    stale, fresh = await api.register(), await api.register()
    async with api.state.unit_of_work() as uow:
        for payload in (stale, fresh):
            user_id = uuid.UUID(payload["user"]["id"])
            await uow.session.execute(
                update(User).where(User.id == user_id).values(password_hash=None)
            )
        await uow.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == uuid.UUID(stale["user"]["id"]))
            .values(created_at=utcnow() - timedelta(minutes=11))
        )
    refused = await api.gql(DELETE, {"input": {}}, token=stale["accessToken"])
    assert refused.data["deleteAccount"] == {
        "__typename": "InvalidCredentials",
        "code": "INVALID_CREDENTIALS",
        "message": "Sign in again (within the last 10 minutes) to delete your account.",
        "field": "password",
    }
    done = await api.gql(DELETE, {"input": {}}, token=fresh["accessToken"])
    assert done.data["deleteAccount"] == {
        "__typename": "DeleteAccountPayload",
        "userId": fresh["user"]["id"],
    }
