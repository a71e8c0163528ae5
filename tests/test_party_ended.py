"""An ended party answers `PartyEndedError` (code PARTY_ENDED) to every operation that would
change it, in every domain; leaving it and cleaning up after it stay possible.

Every mutation of the schema is listed once below: on an ended party (`REFUSED`), still allowed
there (`STILL_ALLOWED`), or not about a party at all (`NOT_ON_A_PARTY`). A new mutation fails
`test_every_mutation_takes_a_side` until it is placed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chat_ops import send
from tests.parties_ops import Cast, Person, cast, error, join, mutate, person
from tests.support import Api

SCHEMA = (Path(__file__).parent.parent / "schema.graphql").read_text()
INPUT_TYPES: dict[str, str] = dict(re.findall(r"^  (\w+)\(input: (\w+)!?", SCHEMA, re.M))
PARTY_ENDED = error("PartyEndedError", "PARTY_ENDED", "This party has ended.")
CHAT_ENDED = error("PartyEndedError", "PARTY_ENDED", "This party has ended: its chat is read-only.")


@dataclass
class Ended:
    """An ended party with something of everything in it, and who is who."""

    c: Cast
    requesters: list[Person]
    message_id: str
    poll_id: str
    option_id: str
    item_id: str
    link_id: str

    @property
    def pid(self) -> str:
        return str(self.c.party["id"])


Op = tuple[Callable[[Ended], Person], Callable[[Ended], dict[str, Any]]]

ANY_ID = str(uuid.UUID(int=7))
REFUSED: dict[str, Op] = {
    # playback and queue
    "play": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "pause": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "seek": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "positionSeconds": 5.0}),
    "setPlaybackRate": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "rate": 1.5}),
    "playQueueItem": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "itemId": e.item_id}),
    "skipToNext": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "skipToPrevious": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "addToQueue": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "media": {"url": "https://videos.example.com/b.mp4"}},
    ),
    "removeFromQueue": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "itemId": e.item_id}),
    "moveQueueItem": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "itemId": e.item_id, "position": 0},
    ),
    "reportPlayerState": (
        lambda e: e.c.member,
        lambda e: {
            "partyId": e.pid,
            "state": "PLAYING",
            "positionSeconds": 1.0,
            "clientTimeMs": time.time() * 1000,
        },
    ),
    "setIgnoreWait": (
        lambda e: e.c.member,
        lambda e: {"partyId": e.pid, "userId": e.c.member.id, "ignore": True},
    ),
    # the party, its members and invites
    "updateParty": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "title": "Again"}),
    "startParty": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "joinParty": (lambda e: e.c.stranger, lambda e: {"partyId": e.pid}),
    "approveMember": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "userId": e.requesters[0].id},
    ),
    "rejectMember": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "userId": e.requesters[1].id},
    ),
    "setMemberRole": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "userId": e.c.member.id, "role": "MODERATOR"},
    ),
    "transferHost": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "userId": e.c.cohost.id}),
    "kickMember": (lambda e: e.c.moderator, lambda e: {"partyId": e.pid, "userId": e.c.member.id}),
    "banMember": (lambda e: e.c.moderator, lambda e: {"partyId": e.pid, "userId": e.c.member.id}),
    "unbanMember": (lambda e: e.c.moderator, lambda e: {"partyId": e.pid, "userId": ANY_ID}),
    "createInviteLink": (lambda e: e.c.host, lambda e: {"partyId": e.pid}),
    "inviteToParty": (lambda e: e.c.host, lambda e: {"partyId": e.pid, "userIds": [ANY_ID]}),
    # chat and its moderation
    "sendMessage": (lambda e: e.c.member, lambda e: {"partyId": e.pid, "body": "late"}),
    "editMessage": (lambda e: e.c.member, lambda e: {"messageId": e.message_id, "body": "x"}),
    "reactToMessage": (lambda e: e.c.member, lambda e: {"messageId": e.message_id, "emoji": "👍"}),
    "removeMessageReaction": (
        lambda e: e.c.member,
        lambda e: {"messageId": e.message_id, "emoji": "👍"},
    ),
    "setTyping": (lambda e: e.c.member, lambda e: {"partyId": e.pid, "typing": True}),
    "muteMember": (lambda e: e.c.moderator, lambda e: {"partyId": e.pid, "userId": e.c.member.id}),
    "unmuteMember": (
        lambda e: e.c.moderator,
        lambda e: {"partyId": e.pid, "userId": e.c.member.id},
    ),
    "setSlowMode": (lambda e: e.c.moderator, lambda e: {"partyId": e.pid, "seconds": 5}),
    "hideMessage": (lambda e: e.c.moderator, lambda e: {"messageId": e.message_id}),
    "unhideMessage": (lambda e: e.c.moderator, lambda e: {"messageId": e.message_id}),
    # polls and reactions
    "createPoll": (
        lambda e: e.c.host,
        lambda e: {"partyId": e.pid, "question": "Q?", "options": ["A", "B"]},
    ),
    "votePoll": (
        lambda e: e.c.member,
        lambda e: {"pollId": e.poll_id, "optionIds": [e.option_id]},
    ),
    "closePoll": (lambda e: e.c.host, lambda e: {"pollId": e.poll_id}),
    "sendReaction": (
        lambda e: e.c.member,
        lambda e: {
            "partyId": e.pid,
            "emoji": "👍",
            "videoPositionSeconds": 0.0,
            "x": 0.5,
            "y": 0.5,
        },
    ),
    # voice and screen share
    "joinVoice": (lambda e: e.c.member, lambda e: {"partyId": e.pid}),
    "setVoiceState": (lambda e: e.c.member, lambda e: {"partyId": e.pid, "muted": True}),
    "startScreenShare": (lambda e: e.c.member, lambda e: {"partyId": e.pid}),
    "sendSignal": (
        lambda e: e.c.member,
        lambda e: {"partyId": e.pid, "toUserId": e.c.host.id, "kind": "OFFER", "payload": {}},
    ),
}
CHAT_READ_ONLY = {
    "sendMessage",
    "editMessage",
    "reactToMessage",
    "removeMessageReaction",
    "setTyping",
}

# Leaving, ending again, deleting and cleaning up: the success member each answers.
STILL_ALLOWED: dict[str, tuple[str, Op]] = {
    "leaveVoice": ("LeaveVoicePayload", (lambda e: e.c.member, lambda e: {"partyId": e.pid})),
    "stopScreenShare": (
        "StopScreenSharePayload",
        (lambda e: e.c.member, lambda e: {"partyId": e.pid}),
    ),
    "deleteMessage": (
        "ChatMessagePayload",
        (lambda e: e.c.member, lambda e: {"messageId": e.message_id}),
    ),
    "revokeInviteLink": (
        "RevokeInviteLinkPayload",
        (lambda e: e.c.host, lambda e: {"inviteLinkId": e.link_id}),
    ),
    "leaveParty": ("LeavePartyPayload", (lambda e: e.c.member, lambda e: {"partyId": e.pid})),
    "endParty": ("PartyPayload", (lambda e: e.c.host, lambda e: {"partyId": e.pid})),
    "deleteParty": ("DeletePartyPayload", (lambda e: e.c.host, lambda e: {"partyId": e.pid})),
}
NOT_ON_A_PARTY = {
    "register",
    "login",
    "updateProfile",
    "changePassword",
    "requestPasswordReset",
    "resetPassword",
    "verifyEmail",
    "resendVerificationEmail",
    "revokeSession",
    "createParty",
    "createVideoUpload",
    "renewVideoUpload",
    "completeVideoUpload",
    "updateVideo",
    "deleteVideo",
    "addExternalVideo",
    "markNotificationsRead",
    "updateNotificationPreferences",
    "registerPushToken",
    "unregisterPushToken",
    "createCheckoutSession",
    "createBillingPortalSession",
    "deleteNotification",
    "trackEvents",  # analytics: events may name an ended party (a late heartbeat, a replay)
    # A notification id: an ended party's invitation answers PartyEndedError
    # (tests/test_notifications_invites.py).
    "acceptPartyInvite",
    "declinePartyInvite",
    "deleteAccount",
    "runAnalyticsAggregation",
    # Reads a party's figures: an ended party's export is the point (tests/test_analytics_*).
    "requestAnalyticsExport",
}


async def run(api: Api, name: str, who: Person, input: dict[str, Any]) -> dict[str, Any]:
    query = (
        f"mutation($input: {INPUT_TYPES[name]}!) {{ {name}(input: $input) {{ __typename "
        "... on UserError { code message field } } }"
    )
    result = await api.gql(query, {"input": input}, token=who.token)
    assert result.data is not None, (name, result)
    answer: dict[str, Any] = result.data[name]
    return answer


async def ok(api: Api, query: str, variables: dict[str, Any], token: str) -> Any:
    result = await api.gql(query, variables, token=token)
    assert result.data is not None, result
    return result.data


async def ended_party(api: Api) -> Ended:
    """A live party with a pending request or two, a queue item, a message, a poll and an
    invite link; then ended by its host."""
    c = await cast(api)
    pid = c.party["id"]
    await mutate(api, "updateParty", c.host.token, partyId=pid, requireApproval=True)
    requesters = [await person(api, f"Asks{n}") for n in range(2)]
    for who in requesters:
        assert (await join(api, who, code=c.party["code"]))["__typename"] == "JoinPending"
    queued = await ok(
        api,
        "mutation($input: AddToQueueInput!) { addToQueue(input: $input) { "
        "... on QueuePayload { queue { id } } } }",
        {"input": {"partyId": pid, "media": {"url": "https://videos.example.com/a.mp4"}}},
        c.host.token,
    )
    message = await send(api, c.member.token, pid, "hello")
    poll = (
        await ok(
            api,
            "mutation($input: CreatePollInput!) { createPoll(input: $input) { "
            "... on PollPayload { poll { id options { id } } } } }",
            {"input": {"partyId": pid, "question": "Which?", "options": ["A", "B"]}},
            c.host.token,
        )
    )["createPoll"]["poll"]
    link = await mutate(api, "createInviteLink", c.host.token, partyId=pid)
    assert (await run(api, "joinVoice", c.member, {"partyId": pid}))["__typename"] == (
        "VoiceParticipantPayload"
    )
    ended = await mutate(api, "endParty", c.host.token, partyId=pid)
    assert ended["__typename"] == "PartyPayload", ended
    return Ended(
        c=c,
        requesters=requesters,
        message_id=message["id"],
        poll_id=poll["id"],
        option_id=poll["options"][0]["id"],
        item_id=queued["addToQueue"]["queue"][0]["id"],
        link_id=link["inviteLink"]["id"],
    )


def test_every_mutation_takes_a_side() -> None:
    sides = [set(REFUSED), set(STILL_ALLOWED), NOT_ON_A_PARTY]
    assert set(INPUT_TYPES) == set().union(*sides)
    assert sum(len(side) for side in sides) == len(INPUT_TYPES)  # no mutation on two sides


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_mutations_list_party_ended(name: str) -> None:
    result = re.search(rf"^  {name}\(input: \w+!?\): (\w+)!", SCHEMA, re.M)
    assert result is not None
    union = re.search(rf"^union {result.group(1)} = (.*)$", SCHEMA, re.M)
    assert union is not None and "PartyEndedError" in union.group(1).split(" | ")


async def test_an_ended_party_answers_party_ended_to_every_change(api: Api) -> None:
    e = await ended_party(api)
    answers = {}
    for name, (who, input) in REFUSED.items():
        answers[name] = await run(api, name, who(e), input(e))
    assert answers == {
        name: CHAT_ENDED if name in CHAT_READ_ONLY else PARTY_ENDED for name in REFUSED
    }


async def test_an_ended_party_can_still_be_left_and_cleaned_up(api: Api) -> None:
    e = await ended_party(api)
    answers = {}
    for name, (_, (who, input)) in STILL_ALLOWED.items():  # deleteParty last
        answers[name] = (await run(api, name, who(e), input(e)))["__typename"]
    assert answers == {name: typename for name, (typename, _) in STILL_ALLOWED.items()}
