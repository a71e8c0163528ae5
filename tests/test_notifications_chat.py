"""REPLY and MENTION notifications of chat messages, through GraphQL on both stacks: who gets
which (exact kinds, text, links, actors) and that nobody else gets one."""

from __future__ import annotations

from typing import Any

from tests.chat_ops import send
from tests.notifications_ops import entries
from tests.parties_ops import Person, create_party, joined, mutate, person
from tests.support import Api
from watchparty.chat.notices import mentioned


async def party_of(api: Api, *names: str) -> tuple[str, list[Person]]:
    """A party hosted by the first of `names`, the others active members."""
    people = [await person(api, name) for name in names]
    party = await create_party(api, people[0])
    for who in people[1:]:
        await joined(api, who, code=party["code"])
    return party["id"], people


async def test_replies_collapse_per_message_for_its_author(any_api: Api) -> None:
    party, (alice, bob, carol, dave) = await party_of(any_api, "Alice", "Bob", "Carol", "Dave")
    first = await send(any_api, alice.token, party, "What a scene")
    await send(any_api, alice.token, party, "Me again", replyToId=first["id"])  # own: nothing
    replies = [
        await send(any_api, who.token, party, f"Indeed, says {who.name}", replyToId=first["id"])
        for who in (bob, carol, dave)
    ]
    last = replies[-1]["id"]
    assert await entries(any_api, alice) == [
        (
            "REPLY",
            "Dave and 2 others replied to you",
            "Indeed, says Dave",
            f"/parties/{party}?message={last}",
            "Dave",
            3,
            ("MESSAGE", first["id"]),
        )
    ]
    # A reply to Bob's reply goes to Bob, in its own group.
    answer = await send(any_api, carol.token, party, "Right", replyToId=replies[0]["id"])
    assert await entries(any_api, bob) == [
        (
            "REPLY",
            "Carol replied to you",
            "Right",
            f"/parties/{party}?message={answer['id']}",
            "Carol",
            1,
            ("MESSAGE", replies[0]["id"]),
        )
    ]
    assert (await entries(any_api, carol), await entries(any_api, dave)) == ([], [])


async def test_mentions_reach_active_members_named_exactly(any_api: Api) -> None:
    party, people = await party_of(any_api, "Alice", "Bob", "Bob Smith", "Carol", "Frank")
    alice, bob, bob_smith, carol, frank = people
    eve = await person(any_api, "Eve")  # not a member
    assert (await mutate(any_api, "leaveParty", frank.token, partyId=party))[
        "__typename"
    ] == "LeavePartyPayload"
    body = "hey @alice and @BOB SMITH! @Bobby @eve @Frank @Bob mail carol@carol"
    message = await send(any_api, bob.token, party, body)
    mention = (
        "MENTION",
        "Bob mentioned you in Movie night",
        body,
        f"/parties/{party}?message={message['id']}",
        "Bob",
        1,
        ("MESSAGE", message["id"]),
    )
    assert await entries(any_api, alice) == [mention]
    assert await entries(any_api, bob_smith) == [mention]
    for nobody in (bob, carol, frank, eve):
        assert await entries(any_api, nobody) == [], nobody.name

    # Mentioned and replied to: the REPLY only.
    text = "@Alice @Bob @bob smith yes"
    reply = await send(any_api, carol.token, party, text, replyToId=message["id"])
    path = f"/parties/{party}?message={reply['id']}"
    by_carol = ("Carol", 1)
    assert await entries(any_api, bob) == [
        ("REPLY", "Carol replied to you", text, path, *by_carol, ("MESSAGE", message["id"]))
    ]
    mentioned_again = (
        "MENTION",
        "Carol mentioned you in Movie night",
        text,
        path,
        *by_carol,
        ("MESSAGE", reply["id"]),
    )
    assert await entries(any_api, alice) == [mentioned_again, mention]
    assert await entries(any_api, bob_smith) == [mentioned_again, mention]
    assert await entries(any_api, carol) == []


async def test_at_most_ten_people_are_mentioned_per_message(any_api: Api) -> None:
    names = [f"Fan{n:02d}" for n in range(12)]
    party, (host, *fans) = await party_of(any_api, "Host", *names)
    await send(any_api, host.token, party, " ".join(f"@{n}" for n in reversed(names)))
    got = [bool(await entries(any_api, fan)) for fan in fans]
    assert got == [False, False] + [True] * 10  # the first ten named: Fan11 down to Fan02


def test_mentioned_picks_the_longest_name_and_needs_a_boundary() -> None:
    a, b, c = object(), object(), object()
    members: list[Any] = [(a, "Bob"), (b, "Bob Smith"), (c, "Al")]
    assert mentioned("@bob smith, @Bob! @Bobby x@al @al_ @AL", members) == [b, a, c]
