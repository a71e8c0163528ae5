"""Who may control playback and the queue: control policy x role, and visibility."""

from __future__ import annotations

import pytest

from tests.playback_ops import (
    URL_ITEM,
    Party,
    Person,
    control,
    create_party,
    member,
    person,
    queue_op,
    report,
)
from tests.support import Api

ROLES = ["anonymous", "stranger", "MEMBER", "MODERATOR", "COHOST", "HOST"]
ALLOWED = {
    "HOST_ONLY": {"HOST"},
    "HOSTS": {"HOST", "COHOST"},
    "EVERYONE": {"HOST", "COHOST", "MODERATOR", "MEMBER"},
}


async def _actor(api: Api, party: Party, role: str) -> Person | None:
    if role == "anonymous":
        return None
    if role == "stranger":
        return await person(api, "Stranger")
    if role == "HOST":
        return party.host
    return await member(api, party, role)


@pytest.mark.parametrize("policy", sorted(ALLOWED))
async def test_control_policy_matrix(api: Api, policy: str) -> None:
    party = await create_party(api, media=URL_ITEM, controlPolicy=policy)
    for role in ROLES:
        actor = await _actor(api, party, role)
        token = None if actor is None else actor.token
        answers = {
            "play": await control(api, "play", party.id, token),
            "pause": await control(api, "pause", party.id, token),
            "seek": await control(api, "seek", party.id, token, positionSeconds=3),
            "addToQueue": await queue_op(
                api, "addToQueue", party.id, token, media={"url": "https://e.example/v.mp4"}
            ),
        }
        for name, answer in answers.items():
            if role == "anonymous":
                expected = "NotAuthenticated"
            elif role in ALLOWED[policy]:
                expected = "QueuePayload" if name == "addToQueue" else "PlaybackPayload"
            else:
                expected = "NotAllowed"
            assert answer["__typename"] == expected, (policy, role, name, answer)


async def test_private_party_is_not_found_for_strangers(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM, visibility="PRIVATE")
    stranger = await person(any_api, "Stranger")
    for name, fields in [("play", {}), ("skipToNext", {}), ("setPlaybackRate", {"rate": 1.5})]:
        answer = await control(any_api, name, party.id, stranger.token, **fields)
        assert answer["__typename"] == "NotFound", answer
        assert answer["message"] == "Party not found."
    item = party.queue[0]["id"]
    removed = await queue_op(any_api, "removeFromQueue", party.id, stranger.token, itemId=item)
    assert removed["__typename"] == "NotFound"
    reported = await report(any_api, party.id, stranger.token, "READY", 0)
    assert reported["__typename"] == "NotFound"


async def test_reports_need_membership_not_control(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)  # HOST_ONLY
    viewer = await member(any_api, party)
    stranger = await person(any_api, "Stranger")
    assert (await report(any_api, party.id, viewer.token, "READY", 0))["__typename"] == (
        "ReportPlayerStatePayload"
    )
    assert (await report(any_api, party.id, stranger.token, "READY", 0))["__typename"] == (
        "NotAllowed"
    )
    assert (await report(any_api, party.id, None, "READY", 0))["__typename"] == ("NotAuthenticated")
