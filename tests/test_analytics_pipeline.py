"""Analytics end to end, through the public API only: a party's server events and its members'
client events (`trackEvents`) reach the table (the worker's drain on PostgreSQL + Redis, direct
inserts embedded), a staff member's `runAnalyticsAggregation` runs, and the host reads the
dashboard (`party.analytics`) and the guest its own `me.stats`. A stranger naming the party and
an anonymous visitor are stored but never counted for it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.analytics_ingest_ops import event, server_events, stored, track
from tests.analytics_read_ops import make_staff, party_analytics
from tests.chat_ops import send
from tests.parties_ops import person as named_person
from tests.playback_ops import URL_ITEM, create_party, member, person
from tests.support import Api

RUN = """mutation($input: RunAnalyticsAggregationInput) { runAnalyticsAggregation(input: $input) {
    __typename ... on AnalyticsJobPayload { job { id status } } } }"""
JOB = "query($id: ID!) { analyticsJob(id: $id) { status progress error } }"
TOTALS = """totals { uniqueViewers peakViewers watchSeconds averageWatchSeconds chatMessages
    reactions bufferingEvents bufferingSeconds } hotspots { startSeconds reactions }"""


def heartbeat(party_id: str, position: float, watched: float) -> dict[str, Any]:
    return event(
        "player.heartbeat",
        partyId=party_id,
        positionSeconds=position,
        properties={"watchedSeconds": watched},
    )


async def aggregated(api: Api, token: str) -> dict[str, Any]:
    """Run every scope now (staff) and wait for the job's end."""
    started = await api.gql(RUN, {"input": {"scope": "all"}}, token=token)
    job = started.data["runAnalyticsAggregation"]["job"]
    deadline = time.monotonic() + 30
    while True:
        result = await api.gql(JOB, {"id": job["id"]}, token=token)
        status: dict[str, Any] = result.data["analyticsJob"]
        if status["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.1)


async def test_a_party_from_its_events_to_its_dashboard(any_api: Api) -> None:
    api = any_api
    host = await person(api, "Host")
    party = await create_party(api, host, media=URL_ITEM)
    guest = await member(api, party)
    stranger = await person(api, "Stranger")
    staff = await named_person(api, "Staff")
    await make_staff(api, staff)

    await send(api, guest.token, party.id, "what a scene")
    reaction = await api.gql(
        "mutation($input: SendReactionInput!) { sendReaction(input: $input) { __typename } }",
        {
            "input": {
                "partyId": party.id,
                "emoji": "😂",
                "videoPositionSeconds": 43.5,
                "x": 0.5,
                "y": 0.5,
            }
        },
        token=guest.token,
    )
    assert reaction.data["sendReaction"]["__typename"] == "SendReactionPayload"

    beats = [heartbeat(party.id, 10, 30), heartbeat(party.id, 40, 30)]
    accepted = {"__typename": "TrackEventsPayload", "accepted": 2, "duplicates": 0, "rejected": []}
    assert await track(api, beats, token=guest.token) == accepted
    retried = {**accepted, "accepted": 0, "duplicates": 2}
    assert await track(api, beats, token=guest.token) == retried  # a retry stores nothing
    intruders = [heartbeat(party.id, 5, 50), heartbeat(party.id, 6, 50)]
    one = {**accepted, "accepted": 1}
    assert await track(api, intruders[:1], token=stranger.token) == one
    assert await track(api, intruders[1:]) == one  # anonymous
    ids = [e["id"] for e in beats + intruders]
    assert len(await stored(api, ids)) == 4
    for name in ("party.join", "chat.message", "reaction.send"):
        assert len(await server_events(api, name, party_id=party.id)) == 1
    await asyncio.sleep(0.6)  # the aggregation lag of the tests (support.make_settings)

    assert await aggregated(api, staff.token) == {
        "status": "SUCCEEDED",
        "progress": 1.0,
        "error": None,
    }
    body = await party_analytics(api, party.id, host.token, fields=TOTALS)
    assert body["data"]["party"]["analytics"] == {
        "totals": {
            "uniqueViewers": 1,  # the guest: the stranger and the visitor do not count
            "peakViewers": 0,  # nobody opened the party's stream
            "watchSeconds": 60.0,
            "averageWatchSeconds": 60.0,
            "chatMessages": 1,
            "reactions": 1,
            "bufferingEvents": 0,
            "bufferingSeconds": 0.0,
        },
        "hotspots": [{"startSeconds": 40, "reactions": 1}],
    }
    assert (await party_analytics(api, party.id, guest.token, fields=TOTALS))["data"] == {
        "party": {"analytics": None}  # a member is not a host
    }

    stats = await api.gql(
        "{ me { stats { watchSeconds partiesJoined messagesSent reactionsSent } } }",
        token=guest.token,
    )
    assert stats.data == {
        "me": {
            "stats": {
                "watchSeconds": 60.0,
                "partiesJoined": 1,
                "messagesSent": 1,
                "reactionsSent": 1,
            }
        }
    }
