"""Scheduled parties: PARTY_STARTING_SOON before the start, the start by itself with
PARTY_STARTED, through GraphQL on both stacks. The lead is 2 seconds here (the setting), so
nothing waits 15 minutes. Rescheduling, cancelling, ending and deleting leave the pending jobs
with nothing to do; `startParty` before the time tells the members at once; a job run twice (or
with the sweep) sends once, and the sweep does what lost jobs would have done.

The apps of this module have a database of their own: another app's sweep on the same database
(the session's) would remind these parties with its own lead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.notifications_ops import MARK_READ, entries, feed, mutate, stream
from tests.ops_support import scratch_database
from tests.parties_ops import Person, create_party, joined, party_query, person
from tests.parties_ops import mutate as party_mutate
from tests.support import Api, live_server, make_settings, running_app
from watchparty.parties.reminder_tasks import (
    send_party_reminder,
    start_scheduled_party,
    sweep_party_reminders,
)
from watchparty.parties.reminders import start_ms

LEAD = 2  # PARTY_REMINDER_LEAD_SECONDS of these apps
MEDIA = {"url": "https://videos.example.com/film.mp4", "title": "Film", "durationSeconds": 600}


@pytest.fixture(scope="module")
async def own_pg() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


@pytest.fixture(scope="module", params=["postgres", "embedded"])
async def rapi(
    request: pytest.FixtureRequest, own_pg: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    """An app (with its worker) whose reminders come 2 seconds before the start."""
    settings = make_settings(
        request.param,
        database_url=own_pg,
        tmp=tmp_path_factory.mktemp("reminders"),
        party_reminder_lead_seconds=LEAD,
    )
    async with running_app(settings) as api:
        yield api


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def until(api: Api, check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await api.drain_jobs()
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def kinds(api: Api, who: Person) -> list[tuple[str, bool]]:
    """(kind, read) of `who`'s feed, newest first."""
    page = await feed(api, who)
    return [(e["node"]["kind"], e["node"]["readAt"] is not None) for e in page["edges"]]


async def scheduled(
    api: Api, seconds: float, **input: Any
) -> tuple[Person, Person, dict[str, Any]]:
    """A host and a member of a party starting in `seconds`."""
    host, member = await person(api, "Host"), await person(api, "Member")
    party = await create_party(
        api, host, title="Friday movie night", scheduledStart=at(seconds), media=MEDIA, **input
    )
    assert party["status"] == "SCHEDULED"
    await joined(api, member, code=party["code"])
    return host, member, party


def soon(party: dict[str, Any]) -> tuple[Any, ...]:
    return (
        "PARTY_STARTING_SOON",
        "Friday movie night starts in 1 minute",
        "Get ready.",
        f"/parties/{party['id']}",
        None,
        0,
        ("PARTY", party["id"]),
    )


def started(party: dict[str, Any], actor: str | None = None) -> tuple[Any, ...]:
    return (
        "PARTY_STARTED",
        "Friday movie night has started",
        "Join in.",
        f"/parties/{party['id']}",
        actor,
        0 if actor is None else 1,
        ("PARTY", party["id"]),
    )


async def status(api: Api, party: dict[str, Any], who: Person) -> Any:
    return await party_query(
        api, party["id"], who.token, "status startedAt playback { state positionSeconds }"
    )


async def read_all(api: Api, who: Person) -> None:
    result = await mutate(api, MARK_READ, who, input={"all": True})
    assert result["__typename"] == "MarkNotificationsReadPayload", result


async def test_a_scheduled_party_reminds_then_starts_by_itself(rapi: Api) -> None:
    host, member, party = await scheduled(rapi, LEAD + 4)
    gone = await person(rapi, "Gone")
    await joined(rapi, gone, code=party["code"])
    left = await party_mutate(rapi, "leaveParty", gone.token, partyId=party["id"])
    assert left["__typename"] == "LeavePartyPayload", left
    reader = await person(rapi, "Reader")
    await joined(rapi, reader, code=party["code"])
    assert (await entries(rapi, member), await entries(rapi, host)) == ([], [])

    # The reminder reaches every active member, the host too (nobody caused it).
    await until(rapi, lambda: entries(rapi, member))
    assert await entries(rapi, member) == [soon(party)]
    assert await entries(rapi, host) == [soon(party)]
    assert (await status(rapi, party, host))["status"] == "SCHEDULED"
    await read_all(rapi, reader)

    # At the start: LIVE by itself, playback still paused at 0, PARTY_STARTED to everyone.
    live = await until(rapi, lambda: _live(rapi, party, host))
    assert live["status"] == "LIVE" and live["startedAt"] is not None
    assert live["playback"] == {"state": "PAUSED", "positionSeconds": 0.0}
    await until(rapi, lambda: _has(rapi, member, "PARTY_STARTED"))
    # An unread reminder became the started entry; a read one stays, read.
    assert await entries(rapi, member) == [started(party)]
    assert await entries(rapi, host) == [started(party)]
    assert await kinds(rapi, reader) == [("PARTY_STARTED", False), ("PARTY_STARTING_SOON", True)]
    assert await entries(rapi, gone) == []


async def _live(api: Api, party: dict[str, Any], who: Person) -> Any:
    found = await status(api, party, who)
    return found if found["status"] == "LIVE" else None


async def _has(api: Api, who: Person, kind: str) -> bool:
    return any(k == kind for k, _ in await kinds(api, who))


async def test_start_party_before_the_time_tells_members_at_once_and_the_timers_do_nothing(
    rapi: Api,
) -> None:
    host, member, party = await scheduled(rapi, LEAD + 1.5)
    result = await party_mutate(rapi, "startParty", host.token, partyId=party["id"])
    assert result["__typename"] == "PartyPayload", result
    assert result["party"]["status"] == "LIVE"
    # At once, to everyone but who started it.
    assert await entries(rapi, member) == [started(party, "Host")]
    assert await entries(rapi, host) == []
    # Starting again changes nothing.
    await party_mutate(rapi, "startParty", host.token, partyId=party["id"])
    await read_all(rapi, member)
    # Past both timers: no reminder, no second start.
    await asyncio.sleep(LEAD + 2.5)
    await rapi.drain_jobs()
    assert await kinds(rapi, member) == [("PARTY_STARTED", True)]
    assert await entries(rapi, host) == []


async def test_rescheduling_moves_the_reminders(rapi: Api) -> None:
    host, member, party = await scheduled(rapi, LEAD + 3)
    moved = await party_mutate(
        rapi, "updateParty", host.token, partyId=party["id"], scheduledStart=at(LEAD + 8)
    )
    assert moved["__typename"] == "PartyPayload", moved
    # The first time's reminder and start come and go with nothing.
    await asyncio.sleep(LEAD + 3.5)
    await rapi.drain_jobs()
    assert (await status(rapi, party, host))["status"] == "SCHEDULED"
    assert await entries(rapi, member) == []
    # The new time's reminder, then its start, once each.
    await until(rapi, lambda: entries(rapi, member))
    assert await entries(rapi, member) == [soon(party)]
    await read_all(rapi, member)
    await until(rapi, lambda: _live(rapi, party, host))
    await until(rapi, lambda: _has(rapi, member, "PARTY_STARTED"))
    await asyncio.sleep(0.5)
    await rapi.drain_jobs()
    assert await kinds(rapi, member) == [("PARTY_STARTED", False), ("PARTY_STARTING_SOON", True)]


async def test_cancelling_ending_or_deleting_leaves_the_jobs_nothing_to_do(rapi: Api) -> None:
    host, member, cleared = await scheduled(rapi, LEAD + 4)
    ended = await create_party(rapi, host, title="Friday movie night", scheduledStart=at(LEAD + 4))
    deleted = await create_party(
        rapi, host, title="Friday movie night", scheduledStart=at(LEAD + 4)
    )
    for party in (ended, deleted):
        await joined(rapi, member, code=party["code"])
    answers = [
        await party_mutate(
            rapi, "updateParty", host.token, partyId=cleared["id"], scheduledStart=None
        ),
        await party_mutate(rapi, "endParty", host.token, partyId=ended["id"]),
        await party_mutate(rapi, "deleteParty", host.token, partyId=deleted["id"]),
    ]
    assert [a["__typename"] for a in answers] == [
        "PartyPayload",
        "PartyPayload",
        "DeletePartyPayload",
    ]
    assert answers[0]["party"]["scheduledStart"] is None
    await asyncio.sleep(LEAD + 4.5)
    await rapi.drain_jobs()
    assert await entries(rapi, member) == []
    assert await entries(rapi, host) == []
    # Without a time the party waits for startParty.
    assert (await status(rapi, cleared, host))["status"] == "SCHEDULED"
    assert (await status(rapi, ended, host))["status"] == "ENDED"


async def test_a_start_closer_than_the_lead_sends_only_started(rapi: Api) -> None:
    host, member, party = await scheduled(rapi, LEAD - 0.5)
    await until(rapi, lambda: _has(rapi, member, "PARTY_STARTED"))
    await asyncio.sleep(0.3)
    await rapi.drain_jobs()
    assert await entries(rapi, member) == [started(party)]
    assert await entries(rapi, host) == [started(party)]
    # The sweep does not send the skipped reminder either.
    await sweep_party_reminders({"state": rapi.state})
    assert await entries(rapi, member) == [started(party)]


async def test_the_stream_hears_the_reminder_and_the_start(rapi: Api) -> None:
    _, member, _ = await scheduled(rapi, LEAD + 4)
    async with live_server(rapi.app) as base_url, stream(base_url, member) as events:
        assert (await events.next())["event"]["__typename"] == "NotificationSnapshot"
        added = await events.next()
        assert added["event"]["__typename"] == "NotificationAdded"
        assert added["event"]["notification"]["title"] == "Friday movie night starts in 1 minute"
        assert (await events.next())["event"]["__typename"] == "UnreadCountChanged"
        grown = await events.next()
        assert grown["event"]["__typename"] == "NotificationUpdated"
        assert grown["event"]["notification"]["title"] == "Friday movie night has started"
        assert grown["event"]["notification"]["id"] == added["event"]["notification"]["id"]


# -- at most once, and the sweep -------------------------------------------------------------


@pytest.fixture(scope="module")
async def idle_pg() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


@pytest.fixture
async def idle_api(idle_pg: str, tmp_path: Path) -> AsyncIterator[Api]:
    """PostgreSQL + Redis and no worker: the jobs are queued and never run (lost). A database
    of its own: no other app's sweep reaches these parties."""
    settings = make_settings(
        "postgres", database_url=idle_pg, tmp=tmp_path, party_reminder_lead_seconds=LEAD
    )
    async with running_app(settings, worker=False) as api:
        yield api


async def test_jobs_that_run_twice_at_once_send_once(idle_api: Api) -> None:
    api = idle_api
    host, member, party = await scheduled(api, LEAD + 0.5)
    args = {"party_id": party["id"], "scheduled_ms": await _scheduled_ms(api, party, host)}
    ctx = {"state": api.state}
    await asyncio.sleep(0.6)
    runs = await asyncio.gather(*(send_party_reminder(ctx, **args) for _ in range(3)))
    assert sorted(runs) == ["sent", "stale", "stale"]
    assert await entries(api, member) == [soon(party)]
    await read_all(api, member)
    await asyncio.sleep(LEAD)
    runs = await asyncio.gather(*(start_scheduled_party(ctx, **args) for _ in range(3)))
    assert sorted(runs) == ["stale", "stale", "started"]
    # Once more, later (a retry, a restarted worker): nothing.
    assert await start_scheduled_party(ctx, **args) == "stale"
    assert await send_party_reminder(ctx, **args) == "stale"
    assert await sweep_party_reminders(ctx) == "started 0, reminded 0"
    assert await kinds(api, member) == [("PARTY_STARTED", False), ("PARTY_STARTING_SOON", True)]
    assert (await status(api, party, host))["status"] == "LIVE"


async def test_the_sweep_does_what_lost_jobs_would_have_done(idle_api: Api) -> None:
    api = idle_api
    host, member, party = await scheduled(api, LEAD + 2)
    ctx = {"state": api.state}
    assert await sweep_party_reminders(ctx) == "started 0, reminded 0"  # nothing due yet
    await asyncio.sleep(2.2)
    assert await entries(api, member) == []  # its job never runs
    assert await sweep_party_reminders(ctx) == "started 0, reminded 1"
    assert await entries(api, member) == [soon(party)]
    assert await sweep_party_reminders(ctx) == "started 0, reminded 0"
    await asyncio.sleep(LEAD)
    assert await sweep_party_reminders(ctx) == "started 1, reminded 0"
    assert await entries(api, member) == [started(party)]
    assert (await status(api, party, host))["status"] == "LIVE"
    assert await sweep_party_reminders(ctx) == "started 0, reminded 0"


async def _scheduled_ms(api: Api, party: dict[str, Any], who: Person) -> int:
    found = await party_query(api, party["id"], who.token, "scheduledStart")
    return start_ms(datetime.fromisoformat(found["scheduledStart"]))
