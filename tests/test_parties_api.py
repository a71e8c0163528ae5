"""Parties over GraphQL: lifecycle, visibility, settings validation and the party lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.parties_ops import (
    NOT_AUTHENTICATED,
    NOT_FOUND,
    PREVIEW,
    create_party,
    error,
    joined,
    mutate,
    party_query,
    person,
)
from tests.support import Api
from watchparty.parties.models import Party, QueueItem


def _validation(field: str | None, message: str) -> dict[str, Any]:
    return error("ValidationError", "VALIDATION", message, field)


async def test_create_party_makes_the_viewer_host_of_a_live_party(any_api: Api) -> None:
    host = await person(any_api, "Hosting Hana")
    party = await create_party(
        any_api,
        host,
        title="  Friday   film ",
        description="Bring snacks",
        visibility="UNLISTED",
        maxMembers=10,
        requireApproval=True,
        controlPolicy="HOSTS",
        chatEnabled=False,
        reactionsEnabled=False,
        waitForBuffering=False,
        bufferingTimeoutSeconds=12,
        media={"url": "https://videos.example.com/films/big%20buck.mp4", "durationSeconds": 600},
    )
    assert party["title"] == "Friday film"
    assert party["description"] == "Bring snacks"
    assert party["visibility"] == "UNLISTED"
    assert party["status"] == "LIVE"
    assert party["startedAt"] is not None and party["endedAt"] is None
    assert party["host"] == {"id": host.id}
    assert party["memberCount"] == 1
    assert len(party["code"]) == 8
    assert party["settings"] == {
        "maxMembers": 10,
        "requireApproval": True,
        "controlPolicy": "HOSTS",
        "chatEnabled": False,
        "reactionsEnabled": False,
        "waitForBuffering": False,
        "bufferingTimeoutSeconds": 12,
    }
    mine = await party_query(
        any_api,
        party["id"],
        host.token,
        "myMembership { role status user { id } } queue { position title url durationSeconds } "
        "playback { state positionSeconds revision item { title } }",
    )
    assert mine["myMembership"] == {"role": "HOST", "status": "ACTIVE", "user": {"id": host.id}}
    assert mine["queue"] == [
        {
            "position": 0,
            "title": "big buck.mp4",
            "url": "https://videos.example.com/films/big%20buck.mp4",
            "durationSeconds": 600.0,
        }
    ]
    assert mine["playback"] == {
        "state": "PAUSED",
        "positionSeconds": 0.0,
        "revision": 1,
        "item": {"title": "big buck.mp4"},
    }
    async with any_api.state.sessionmaker() as session:
        row = await session.get(Party, uuid.UUID(party["id"]))
        assert row is not None
        item = await session.scalar(select(QueueItem).where(QueueItem.party_id == row.id))
        assert item is not None and row.current_item_id == item.id


async def test_defaults_and_scheduled_start(any_api: Api) -> None:
    host = await person(any_api)
    plain = await create_party(any_api, host, title="Plain")
    assert plain["visibility"] == "PUBLIC"
    assert plain["settings"] == {
        "maxMembers": 50,
        "requireApproval": False,
        "controlPolicy": "HOST_ONLY",
        "chatEnabled": True,
        "reactionsEnabled": True,
        "waitForBuffering": True,
        "bufferingTimeoutSeconds": 8,
    }
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    scheduled = await create_party(any_api, host, title="Later", scheduledStart=later.isoformat())
    assert scheduled["status"] == "SCHEDULED"
    assert scheduled["startedAt"] is None
    assert datetime.fromisoformat(scheduled["scheduledStart"]) == later
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert (await create_party(any_api, host, title="Now", scheduledStart=past))["status"] == "LIVE"

    started = await mutate(any_api, "startParty", host.token, partyId=scheduled["id"])
    assert started["__typename"] == "PartyPayload"
    assert started["party"]["status"] == "LIVE" and started["party"]["startedAt"] is not None
    again = await mutate(any_api, "startParty", host.token, partyId=scheduled["id"])
    assert again["party"]["status"] == "LIVE"  # starting a live party changes nothing

    ended = await mutate(any_api, "endParty", host.token, partyId=scheduled["id"])
    assert ended["party"]["status"] == "ENDED" and ended["party"]["endedAt"] is not None
    assert await mutate(any_api, "startParty", host.token, partyId=scheduled["id"]) == error(
        "PartyEndedError", "PARTY_ENDED", "This party has ended."
    )
    assert await mutate(
        any_api, "updateParty", host.token, partyId=scheduled["id"], title="x"
    ) == error("PartyEndedError", "PARTY_ENDED", "This party has ended.")


async def test_create_party_rejects_bad_input(any_api: Api) -> None:
    host = await person(any_api)
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"title": "   "}, _validation("title", "Give the party a title.")),
        ({"title": "x" * 121}, _validation("title", "At most 120 characters.")),
        (
            {"title": "ok", "description": "d" * 2001},
            _validation("description", "At most 2000 characters."),
        ),
        (
            {"title": "ok", "maxMembers": 1},
            _validation("maxMembers", "Between 2 and 1000 members."),
        ),
        (
            {"title": "ok", "maxMembers": 1001},
            _validation("maxMembers", "Between 2 and 1000 members."),
        ),
        (
            {"title": "ok", "bufferingTimeoutSeconds": 0},
            _validation("bufferingTimeoutSeconds", "Between 1 and 60 seconds."),
        ),
        (
            {"title": "ok", "bufferingTimeoutSeconds": 61},
            _validation("bufferingTimeoutSeconds", "Between 1 and 60 seconds."),
        ),
        (
            {
                "title": "ok",
                "scheduledStart": (datetime.now(UTC) + timedelta(days=400)).isoformat(),
            },
            _validation("scheduledStart", "At most a year ahead."),
        ),
        (
            {"title": "ok", "media": {"url": "ftp://x.example/a"}},
            _validation("media.url", "Give an http(s) URL."),
        ),
        (
            {"title": "ok", "media": {"url": "not a url"}},
            _validation("media.url", "Give an http(s) URL."),
        ),
        (
            {"title": "ok", "media": {"url": "https://x.example/" + "a" * 2048}},
            _validation("media.url", "At most 2048 characters."),
        ),
        (
            {"title": "ok", "media": {"videoId": "3f0c1c1e-0000-4000-8000-000000000000"}},
            error("NotFound", "NOT_FOUND", "No such video.", "media.videoId"),
        ),
        ({"title": "ok", "media": {}}, _validation("media.url", "Give a url.")),
        (
            {"title": "ok", "media": {"url": "https://x.example/a.mp4", "title": "t" * 241}},
            _validation("media.title", "At most 240 characters."),
        ),
        (
            {"title": "ok", "media": {"url": "https://x.example/a.mp4", "durationSeconds": -1}},
            _validation("media.durationSeconds", "A positive number of seconds (at most a week)."),
        ),
    ]
    for input, expected in cases:
        assert await mutate(any_api, "createParty", host.token, **input) == expected, input
    assert await mutate(any_api, "createParty", None, title="anon") == NOT_AUTHENTICATED
    mine = await any_api.gql("{ myParties { totalCount } }", token=host.token)
    assert mine.data["myParties"]["totalCount"] == 0  # nothing half-created


async def test_update_party_changes_only_given_fields(any_api: Api) -> None:
    host = await person(any_api)
    party = await create_party(any_api, host, title="Before", description="keep me")
    result = await mutate(
        any_api,
        "updateParty",
        host.token,
        partyId=party["id"],
        title="After",
        maxMembers=3,
        chatEnabled=False,
        visibility="PRIVATE",
    )
    assert result["__typename"] == "PartyPayload"
    updated = result["party"]
    assert (updated["title"], updated["description"], updated["visibility"]) == (
        "After",
        "keep me",
        "PRIVATE",
    )
    assert updated["settings"]["maxMembers"] == 3
    assert updated["settings"]["chatEnabled"] is False
    assert updated["settings"]["reactionsEnabled"] is True
    cleared = await mutate(
        any_api, "updateParty", host.token, partyId=party["id"], description=None
    )
    assert cleared["party"]["description"] is None

    for who in ("a", "b"):
        await joined(any_api, await person(any_api, who), code=party["code"])
    assert await mutate(any_api, "updateParty", host.token, partyId=party["id"], maxMembers=2) == (
        _validation("maxMembers", "The party already has 3 members.")
    )
    assert await mutate(
        any_api, "updateParty", host.token, partyId=party["id"], scheduledStart=None
    ) == _validation("scheduledStart", "The party has started already.")
    assert await mutate(
        any_api, "updateParty", host.token, partyId=party["id"], bufferingTimeoutSeconds=99
    ) == _validation("bufferingTimeoutSeconds", "Between 1 and 60 seconds.")


async def test_visibility_private_is_indistinguishable_from_missing(any_api: Api) -> None:
    host = await person(any_api)
    stranger = await person(any_api)
    private = await create_party(any_api, host, title="Secret", visibility="PRIVATE")
    unlisted = await create_party(any_api, host, title="Quiet", visibility="UNLISTED")
    public = await create_party(any_api, host, title="Open")
    missing = "7d1f6a3e-1111-4222-8333-444455556666"

    assert await party_query(any_api, private["id"], stranger.token) is None
    assert await party_query(any_api, private["id"], None) is None
    assert (await party_query(any_api, private["id"], host.token))["title"] == "Secret"
    assert (await party_query(any_api, unlisted["id"], stranger.token, "title code")) == {
        "title": "Quiet",
        "code": None,  # for UNLISTED the code is the secret
    }
    assert (await party_query(any_api, public["id"], None, "title code"))["code"] == public["code"]

    # The same body for a PRIVATE party as for a party that does not exist (and a bad id).
    for target in (private["id"], missing, "not-an-id"):
        for name in ("updateParty", "deleteParty", "startParty", "endParty", "leaveParty"):
            assert await mutate(any_api, name, stranger.token, partyId=target) == NOT_FOUND
        assert await mutate(any_api, "joinParty", stranger.token, partyId=target) == NOT_FOUND
    assert await mutate(any_api, "joinParty", stranger.token, partyId=unlisted["id"]) == error(
        "NotAllowed",
        "NOT_ALLOWED",
        "This party is joined with its code or an invite link.",
        "partyId",
    )


async def test_party_by_code_previews_any_visibility(any_api: Api) -> None:
    host = await person(any_api, "Preview Host")
    stranger = await person(any_api)
    party = await create_party(
        any_api, host, title="Secret", visibility="PRIVATE", requireApproval=True, maxMembers=5
    )
    query = f"query($code: String!) {{ partyByCode(code: $code) {{ {PREVIEW} }} }}"
    spaced = f" {party['code'][:4].lower()}-{party['code'][4:]} "
    for token in (stranger.token, None):
        preview = (await any_api.gql(query, {"code": spaced}, token=token)).data["partyByCode"]
        assert preview == {
            "id": party["id"],
            "title": "Secret",
            "visibility": "PRIVATE",
            "status": "LIVE",
            "requiresApproval": True,
            "memberCount": 1,
            "maxMembers": 5,
            "scheduledStart": None,
            "host": {"id": host.id},
        }
    for unknown in ("ZZZZZZZZ", "short", "x" * 500):
        assert (await any_api.gql(query, {"code": unknown})).data["partyByCode"] is None


async def test_deleted_party_is_gone_for_everyone(any_api: Api) -> None:
    host = await person(any_api)
    member = await person(any_api)
    party = await create_party(any_api, host)
    await joined(any_api, member, partyId=party["id"])
    assert await mutate(any_api, "deleteParty", member.token, partyId=party["id"]) == error(
        "NotAllowed", "NOT_ALLOWED", "Only a host or above can do that."
    )
    result = await mutate(any_api, "deleteParty", host.token, partyId=party["id"])
    assert result == {"__typename": "DeletePartyPayload", "partyId": party["id"]}
    assert await party_query(any_api, party["id"], host.token) is None
    assert await mutate(any_api, "deleteParty", host.token, partyId=party["id"]) == NOT_FOUND
    assert await mutate(any_api, "joinParty", member.token, code=party["code"]) == error(
        "NotFound", "NOT_FOUND", "Party not found.", "code"
    )
    mine = await any_api.gql("{ myParties { totalCount } }", token=member.token)
    assert mine.data["myParties"]["totalCount"] == 0


async def test_my_parties_and_public_parties_paginate_newest_first(any_api: Api) -> None:
    host = await person(any_api)
    other = await person(any_api)
    titles = [f"P{i}" for i in range(5)]
    ids = [(await create_party(any_api, host, title=t))["id"] for t in titles]
    await create_party(any_api, host, title="hidden", visibility="UNLISTED")
    theirs = await create_party(any_api, other, title="theirs")
    await joined(any_api, host, partyId=theirs["id"])

    query = """query($first: Int, $after: String) { myParties(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { title } } } }"""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await any_api.gql(query, {"first": 3, "after": after}, token=host.token)).data[
            "myParties"
        ]
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["title"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == ["theirs", "hidden", *reversed(titles)]
    assert (await any_api.gql("{ myParties { totalCount } }")).data["myParties"] is None

    public = """query($after: String, $status: PartyStatus) {
        publicParties(first: 200, after: $after, status: $status) {
        totalCount edges { node { id visibility } } } }"""
    listed = (await any_api.gql(public, {}, token=other.token)).data["publicParties"]
    listed_ids = [e["node"]["id"] for e in listed["edges"]]
    assert {e["node"]["visibility"] for e in listed["edges"]} == {"PUBLIC"}
    assert set(ids) <= set(listed_ids)
    assert listed_ids.index(ids[4]) < listed_ids.index(ids[0])  # newest first
    assert len(listed_ids) == min(listed["totalCount"], 100)  # page size capped at 100
    await mutate(any_api, "endParty", host.token, partyId=ids[2])
    ended = (await any_api.gql(public, {"status": "ENDED"})).data["publicParties"]
    assert ids[2] in [e["node"]["id"] for e in ended["edges"]]
    live = (await any_api.gql(public, {"status": "LIVE"})).data["publicParties"]
    assert ids[2] not in [e["node"]["id"] for e in live["edges"]]

    bad = await any_api.gql(query, {"after": "garbage!"}, token=host.token)
    assert bad.body["errors"][0]["message"] == "`after` is not a cursor from this list."
