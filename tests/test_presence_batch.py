"""Presence events coalesced: one `PresenceChanged` per party per window carrying everyone who
came and went, and only the online count above PRESENCE_LIST_LIMIT (shared Redis store)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from tests.support import live_server, make_settings, running_app
from tests.test_party_stream_support import create_party, join, party_stream, presence, user


async def test_arrivals_in_one_window_make_one_event_and_big_parties_get_counts(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        presence_batch_seconds=0.75,
        presence_list_limit=3,
    )
    async with running_app(settings, worker=False) as api, live_server(api.app) as base:
        host = await user(api, "Host")
        guests = [await user(api, f"Guest {n}") for n in range(3)]
        party_id = await create_party(api, host, visibility="PUBLIC")
        for guest in guests:
            await join(api, guest, party_id)
        async with AsyncExitStack() as exits:
            watcher = await exits.enter_async_context(party_stream(base, host, party_id))
            assert (await watcher.next())["event"]["party"]["onlineCount"] == 1
            assert (await watcher.next())["event"] == presence(came=[host.id], count=1)

            # Two arrivals within one window: one event naming both, in arrival order.
            for guest in guests[:2]:
                stream = await exits.enter_async_context(party_stream(base, guest, party_id))
                await stream.next()
            came = await watcher.next()
            assert came["cursor"] is None
            assert came["event"] == presence(came=[g.id for g in guests[:2]], count=3)

            # Over the limit: the count alone; a joiner's snapshot has the current count.
            async with party_stream(base, guests[2], party_id) as last:
                snapshot = await last.next()
                assert snapshot["event"]["party"]["onlineCount"] == 4
                assert (await watcher.next())["event"] == presence(count=4, counts_only=True)
            # Back under it (after the large party's longer window): the lists again.
            went = await watcher.next()
            assert went["event"] == presence(went=[guests[2].id], count=3)
