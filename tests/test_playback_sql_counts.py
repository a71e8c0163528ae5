"""SQL statements per hot playback operation (STYLE.md: count SQL for hot operations).

Each operation runs over GraphQL HTTP on the PostgreSQL stack while a `before_cursor_execute`
listener counts every statement the API's engine sends (the ARQ worker has its own engine, and
the realtime safety poll reads nothing while no stream is subscribed). The counts are pinned
exactly, once in a party of 2 members and once in a party of 20: a per-member read or write (an
N+1 over members) changes the second measure and fails here, as does any new statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.chat_ops import send
from tests.playback_ops import (
    Party,
    Person,
    add_item,
    create_party,
    join,
    now_ms,
    person,
    playback_ok,
    read_party,
    report,
)
from tests.support import Api, make_settings, running_app

SERVER_TIME = """query($t: Float!) { serverTime(clientTimeMs: $t) {
    clientTimeMs serverReceivedMs serverSentMs } }"""

# Every authenticated request starts with 1 read, before execution: the access token's session
# joined with its user (a revoked sign-in is a 401, gql/view.py).
AUTH = 1
# A control then reads the party with the viewer's membership and user (one join) and the queue,
# stores the timeline with one guarded UPDATE and records PlaybackChanged (2 statements: the
# channel's sequence, the log row). The playback names only the viewer (updatedBy), already
# loaded: no users read. The answer reuses the published payload (`Snapshot.published`).
CONTROL = AUTH + 1 + 1 + 1 + 2
EXPECTED = {
    # The first item of an idle party: the party row lock, party + membership, queue, INSERT,
    # QueueChanged (2), then the item loads paused through `transition`: queue again, UPDATE,
    # users, PlaybackChanged (2); the answer's playback is the published payload.
    "addToQueue (idle party)": AUTH + 1 + 2 + 1 + 2 + 1 + 1 + 1 + 2,
    # Any later item: lock, party + membership, queue, INSERT, QueueChanged (2), users.
    "addToQueue": AUTH + 1 + 2 + 1 + 2 + 1,
    "play": CONTROL,
    "seek": CONTROL,
    "setPlaybackRate": CONTROL,
    "pause": CONTROL,
    # A routine report changes no timeline: party + membership, queue, UPDATE of the reporter's
    # drift and round trip. Nothing is recorded.
    "reportPlayerState": AUTH + 2 + 1,
    # BUFFERING while playing begins a wait: the routine 4, then `transition` reads the queue
    # again, UPDATE, users (waitingFor names the reporter), PlaybackChanged (2).
    "reportPlayerState (begins a wait)": AUTH + 2 + 1 + 1 + 1 + 1 + 2,
    # Ready again ends the wait: the same, minus the users read (the playback names nobody).
    "reportPlayerState (ends the wait)": AUTH + 2 + 1 + 1 + 1 + 2,
    # The clock sample reads nothing but the token's sign-in (it never loads the viewer).
    "serverTime": AUTH,
}


@asynccontextmanager
async def counting(api: Api) -> AsyncIterator[list[str]]:
    """The SQL statements the API's engine runs inside the block."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def counted(api: Api, operation: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    async with counting(api) as statements:
        result = await operation()
    return len(statements), result


async def party_of(api: Api, members: int) -> tuple[Party, Person]:
    """A party waiting for buffering with `members` members: the host, then MEMBERs."""
    party = await create_party(api, waitForBuffering=True, bufferingTimeoutSeconds=30)
    guests = await asyncio.gather(*(person(api, f"Guest {n}") for n in range(members - 1)))
    for guest in guests:
        await join(api, party.id, guest)
    return party, guests[0]


async def measure(api: Api, members: int) -> dict[str, int]:
    """Statements per operation, in a fresh party of `members` members."""
    party, guest = await party_of(api, members)
    host = party.host.token
    counts: dict[str, int] = {}

    async def add(title: str) -> dict[str, Any]:
        return await add_item(api, party, title, duration=600)

    async def control(name: str, **fields: Any) -> dict[str, Any]:
        return await playback_ok(api, name, party.id, host, **fields)

    async def player(state: str, position: float) -> dict[str, Any]:
        # Positions far apart: each report stores a new drift, whatever the timing.
        payload = await report(api, party.id, guest.token, state, position, rttMs=40.0)
        assert payload["__typename"] == "ReportPlayerStatePayload", payload
        return payload

    async def clock() -> dict[str, Any]:
        sent = now_ms()
        result = await api.gql(SERVER_TIME, {"t": sent}, token=host)
        sample: dict[str, Any] = result.data["serverTime"]
        assert sample["clientTimeMs"] == sent
        return sample

    counts["addToQueue (idle party)"], first = await counted(api, lambda: add("first"))
    assert first["playback"]["state"] == "PAUSED"
    counts["addToQueue"], second = await counted(api, lambda: add("second"))
    assert [item["title"] for item in second["queue"]] == ["first", "second"]
    counts["play"], played = await counted(api, lambda: control("play"))
    assert played["state"] == "PLAYING"
    counts["seek"], sought = await counted(api, lambda: control("seek", positionSeconds=42.0))
    assert sought["positionSeconds"] == 42.0
    counts["setPlaybackRate"], rated = await counted(
        api, lambda: control("setPlaybackRate", rate=1.5)
    )
    assert rated["rate"] == 1.5
    counts["reportPlayerState"], routine = await counted(api, lambda: player("PLAYING", 100.0))
    assert routine["revision"] == rated["revision"]
    counts["reportPlayerState (begins a wait)"], waiting = await counted(
        api, lambda: player("BUFFERING", 200.0)
    )
    assert waiting["revision"] == rated["revision"] + 1
    assert (await read_party(api, party.id, host))["playback"]["waitingFor"] == [{"id": guest.id}]
    counts["reportPlayerState (ends the wait)"], ready = await counted(
        api, lambda: player("PLAYING", 300.0)
    )
    assert ready["revision"] == waiting["revision"] + 1
    counts["pause"], paused = await counted(api, lambda: control("pause"))
    assert paused["state"] == "PAUSED"
    counts["serverTime"], _ = await counted(api, clock)
    return counts


async def test_hot_playback_operations_run_a_fixed_number_of_statements(
    pg_url: str, tmp_path: Path
) -> None:
    # A stack of its own, no worker and no safety poll: every statement counted is the request's.
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path, realtime_poll_seconds=0)
    async with running_app(settings, worker=False) as api:
        small = await measure(api, 2)
        large = await measure(api, 20)
    assert small == EXPECTED
    assert large == small  # nothing grows with the members of the party


async def test_with_the_sign_in_checked_a_moment_ago_a_control_reads_no_sign_in(
    pg_url: str, tmp_path: Path
) -> None:
    """The default deployment caches a checked sign-in for a second (`checked_sessions`): a host
    pressing play, seek, pause in a row pays the sign-in read once."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        realtime_poll_seconds=0,
        session_check_cache_seconds=10.0,
    )
    async with running_app(settings, worker=False) as api:
        party = await create_party(api)
        await add_item(api, party, "first", duration=600)
        host = party.host.token
        counts = {}
        for name, fields in [
            ("play", {}),
            ("seek", {"positionSeconds": 42.0}),
            ("setPlaybackRate", {"rate": 1.5}),
            ("pause", {}),
        ]:
            counts[name], _ = await counted(
                api,
                lambda name=name, fields=fields: playback_ok(api, name, party.id, host, **fields),
            )
    assert counts == {name: CONTROL - AUTH for name in counts}


async def test_a_chat_message_costs_as_many_statements_as_a_control(
    pg_url: str, tmp_path: Path
) -> None:
    """sendMessage (no clientId), sign-in checked a moment ago: party + membership + the author
    (one join), mutes, the counter upsert, the INSERT and MessageAdded (2): the author is named
    without a second read, and a new message has no reactions to read."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        realtime_poll_seconds=0,
        session_check_cache_seconds=10.0,
    )
    async with running_app(settings, worker=False) as api:
        party = await create_party(api)
        host = party.host.token
        await send(api, host, party.id, "first")  # checks the sign-in
        count, message = await counted(api, lambda: send(api, host, party.id, "second"))
        assert (message["body"], message["author"]["id"]) == ("second", party.host.id)
        assert message["reactions"] == []
    assert count == 6  # a control: 5, 6 with members online (their round trips)
