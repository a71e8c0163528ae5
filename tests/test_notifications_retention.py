"""The retention job on real rows: expired entries and entries read longer ago than
NOTIFICATION_READ_RETENTION_DAYS are deleted in bounded batches; unread and recently read
entries stay. Each test has a database of its own (the job deletes across all users)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.notifications_ops import COUNT, feed, notify
from tests.ops_support import scratch_database
from tests.parties_ops import Person, person
from tests.support import Api, make_settings, running_app
from watchparty.kit.time import utcnow
from watchparty.notifications.models import Notification
from watchparty.notifications.retention import purge, purge_notifications
from watchparty.registry import periodic_jobs


@asynccontextmanager
async def own_app(tmp_path: Path, backend: str, **overrides: object) -> AsyncIterator[Api]:
    if backend == "embedded":
        settings = make_settings("embedded", database_url="", tmp=tmp_path, **overrides)
        async with running_app(settings) as api:
            yield api
        return
    async with scratch_database() as url:
        settings = make_settings("postgres", database_url=url, tmp=tmp_path, **overrides)
        async with running_app(settings, worker=False) as api:
            yield api


async def entries_of(api: Api, who: Person, count: int) -> list[uuid.UUID]:
    """`count` new entries for `who`, oldest first."""
    for n in range(count):
        await notify(api, [who], "ANNOUNCEMENT", data={"title": f"N{n}", "body": "b"})
    async with api.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification.id)
            .where(Notification.recipient_id == uuid.UUID(who.id))
            .order_by(Notification.created_at, Notification.title)
        )
        return list(rows)


async def set_times(api: Api, ids: list[uuid.UUID], **values: object) -> None:
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(Notification).where(Notification.id.in_(ids)).values(**values)
        )


async def titles(api: Api, who: Person) -> list[str]:
    return [edge["node"]["title"] for edge in (await feed(api, who))["edges"]]


async def remaining(api: Api) -> int:
    async with api.state.sessionmaker() as session:
        return len(list(await session.scalars(select(Notification.id))))


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
async def test_the_job_deletes_expired_and_long_read_entries(tmp_path: Path, backend: str) -> None:
    async with own_app(tmp_path, backend, notification_read_retention_days=10) as api:
        alice, bob = await person(api, "Alice"), await person(api, "Bob")
        a = await entries_of(api, alice, 6)  # N0..N5
        b = await entries_of(api, bob, 2)
        now = utcnow()
        await set_times(api, a[:2], expires_at=now - timedelta(minutes=1))  # expired, unread
        await set_times(api, [a[2]], read_at=now - timedelta(days=11), seen_at=now)  # read long ago
        await set_times(api, [a[3]], read_at=now - timedelta(days=9), seen_at=now)  # read lately
        await set_times(api, [b[0]], read_at=now - timedelta(days=40), seen_at=now)
        await set_times(api, [b[1]], expires_at=now - timedelta(days=1))

        assert await purge_notifications({"state": api.state}) == 5
        assert await titles(api, alice) == ["N5", "N4", "N3"]
        assert await titles(api, bob) == []
        assert (await api.gql(COUNT, token=alice.token)).data == {"unreadNotificationCount": 2}
        assert await remaining(api) == 3
        # Nothing left to do: a second run deletes nothing.
        assert await purge_notifications({"state": api.state}) == 0


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
async def test_batches_are_bounded_per_run(tmp_path: Path, backend: str) -> None:
    async with own_app(tmp_path, backend) as api:
        carol = await person(api, "Carol")
        ids = await entries_of(api, carol, 7)
        now = utcnow()
        await set_times(api, ids[:5], expires_at=now - timedelta(hours=1))
        await set_times(api, ids[5:], read_at=now - timedelta(days=31), seen_at=now)
        read_before = now - timedelta(days=30)
        # Batches of 2, at most 2 per kind and run: 4 expired and the 2 read ones.
        assert (
            await purge(api.state.sessionmaker, read_before=read_before, batch=2, max_batches=2)
            == 6
        )
        assert await remaining(api) == 1
        # The next run takes the rest.
        assert (
            await purge(api.state.sessionmaker, read_before=read_before, batch=2, max_batches=2)
            == 1
        )
        assert await remaining(api) == 0


def test_the_job_runs_every_ten_minutes() -> None:
    (job,) = [p for p in periodic_jobs() if p.name == "purge_notifications"]
    assert job.every_seconds == 600
