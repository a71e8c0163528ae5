"""POLL_OPENED through GraphQL on both stacks: the party's other active members get one entry
per party while unread, written with the poll; nobody else gets one."""

from __future__ import annotations

from tests.notifications_ops import entries, feed
from tests.parties_ops import cast, joined, mutate, person
from tests.support import Api
from tests.test_polls import new_poll


async def test_a_new_poll_tells_the_other_active_members_collapsed(any_api: Api) -> None:
    c = await cast(any_api)
    party = c.party["id"]
    gone = await person(any_api, "Gone")
    await joined(any_api, gone, code=c.party["code"])
    left = await mutate(any_api, "leaveParty", gone.token, partyId=party)
    assert left["__typename"] == "LeavePartyPayload", left
    people = (c.host, c.cohost, c.moderator, c.member, c.stranger, gone)
    before = {p.name: await entries(any_api, p) for p in people}

    await new_poll(any_api, c.host, party, question="Pizza or tacos?")
    opened = ("POLL_OPENED", "New poll in Movie night")
    link = (f"/parties/{party}",)
    first = (*opened, "Pizza or tacos?", *link, "Host", 1, ("PARTY", party))
    after = {p.name: await entries(any_api, p) for p in people}
    assert after == {
        **before,
        "Cohost": [first, *before["Cohost"]],
        "Moderator": [first, *before["Moderator"]],
        "Member": [first, *before["Member"]],
    }

    # A second poll grows the same unread entry (the host gets a fresh one: not theirs).
    await new_poll(any_api, c.moderator, party, question="Sequel next?")
    grown = (*opened, "Sequel next?", *link, "Moderator", 2, ("PARTY", party))
    assert {p.name: await entries(any_api, p) for p in people} == {
        **before,
        "Host": [(*opened, "Sequel next?", *link, "Moderator", 1, ("PARTY", party))],
        "Cohost": [grown, *before["Cohost"]],
        "Moderator": [first, *before["Moderator"]],
        "Member": [grown, *before["Member"]],
    }
    assert (await feed(any_api, c.member))["totalCount"] == 1
