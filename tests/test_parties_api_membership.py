"""Membership over GraphQL: joining (id, code, invite), approval, capacity, bans, roles, hosting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from tests.parties_ops import (
    NOT_FOUND,
    create_party,
    error,
    event_types,
    join,
    joined,
    mutate,
    party_events,
    party_query,
    person,
)
from tests.support import Api, make_settings, running_app
from watchparty.parties.events import MemberLeft, MembershipRevoked
from watchparty.parties.models import InviteLink, PartyMember


async def test_join_by_id_code_and_rejoin_after_leaving(any_api: Api) -> None:
    host = await person(any_api, "Host")
    guest = await person(any_api, "Guest")
    party = await create_party(any_api, host)
    result = await joined(any_api, guest, partyId=party["id"])
    assert result["member"]["role"] == "MEMBER"
    assert result["member"]["status"] == "ACTIVE"
    assert result["member"]["user"] == {"id": guest.id, "displayName": "Guest"}
    assert result["party"]["memberCount"] == 2
    again = await joined(any_api, guest, code=party["code"].lower())  # already in: same answer
    assert again["member"]["joinedAt"] == result["member"]["joinedAt"]
    assert await event_types(any_api, party["id"]) == ["party.member_joined"]
    member_event = (await party_events(any_api, party["id"]))[0].member
    assert member_event["user"]["id"] == guest.id and member_event["role"] == "MEMBER"

    left = await mutate(any_api, "leaveParty", guest.token, partyId=party["id"])
    assert left == {"__typename": "LeavePartyPayload", "partyId": party["id"]}
    assert await mutate(any_api, "leaveParty", guest.token, partyId=party["id"]) == error(
        "NotAllowed", "NOT_ALLOWED", "Only members of this party can do that."
    )
    assert (await party_query(any_api, party["id"], guest.token, "myMembership { status }")) == {
        "myMembership": None
    }
    await joined(any_api, guest, code=party["code"])
    assert await event_types(any_api, party["id"]) == [
        "party.member_joined",
        "party.member_left",
        "party.member_joined",
    ]

    assert await join(any_api, guest) == error(
        "ValidationError", "VALIDATION", "Give exactly one of partyId, code or inviteToken."
    )
    assert await join(any_api, guest, partyId=party["id"], code=party["code"]) == error(
        "ValidationError", "VALIDATION", "Give exactly one of partyId, code or inviteToken."
    )
    for code in ("ZZZZZZZZ", "nope"):
        assert await join(any_api, guest, code=code) == error(
            "NotFound", "NOT_FOUND", "Party not found.", "code"
        )


async def test_private_party_is_joined_by_code_only(any_api: Api) -> None:
    host = await person(any_api)
    guest = await person(any_api)
    party = await create_party(any_api, host, visibility="PRIVATE")
    assert await join(any_api, guest, partyId=party["id"]) == NOT_FOUND
    result = await joined(any_api, guest, code=party["code"])
    assert result["party"]["visibility"] == "PRIVATE"
    assert (await party_query(any_api, party["id"], guest.token))["id"] == party["id"]


async def test_invite_links_expire_run_out_and_revoke(any_api: Api) -> None:
    host = await person(any_api)
    party = await create_party(any_api, host, visibility="PRIVATE", requireApproval=True)
    created = await mutate(any_api, "createInviteLink", host.token, partyId=party["id"], maxUses=2)
    assert created["__typename"] == "CreateInviteLinkPayload"
    token = created["token"]
    assert created["url"] == f"{any_api.settings.frontend_url}/join/{token}"
    link = created["inviteLink"]
    assert (link["maxUses"], link["uses"], link["revoked"]) == (2, 0, False)
    expires = datetime.fromisoformat(link["expiresAt"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < expires <= timedelta(hours=24)

    first, second, third = [await person(any_api) for _ in range(3)]
    # An invite skips approval.
    assert (await joined(any_api, first, inviteToken=token))["member"]["status"] == "ACTIVE"
    await joined(any_api, second, inviteToken=token)
    assert await join(any_api, third, inviteToken=token) == error(
        "InvalidToken", "INVALID_TOKEN", "This invite link has been used up.", "inviteToken"
    )
    links = await party_query(any_api, party["id"], host.token, "inviteLinks { id uses }")
    assert links == {"inviteLinks": []}  # used up: no longer listed

    fresh = await mutate(any_api, "createInviteLink", host.token, partyId=party["id"])
    listed = await party_query(any_api, party["id"], host.token, "inviteLinks { id uses maxUses }")
    assert listed == {
        "inviteLinks": [{"id": fresh["inviteLink"]["id"], "uses": 0, "maxUses": None}]
    }
    async with any_api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(InviteLink)
            .where(InviteLink.id == uuid.UUID(fresh["inviteLink"]["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    late = await person(any_api)
    assert await join(any_api, late, inviteToken=fresh["token"]) == error(
        "InvalidToken", "INVALID_TOKEN", "This invite link has expired.", "inviteToken"
    )

    never = await mutate(
        any_api, "createInviteLink", host.token, partyId=party["id"], expiresInHours=None
    )
    assert never["inviteLink"]["expiresAt"] is None
    revoked = await mutate(
        any_api, "revokeInviteLink", host.token, inviteLinkId=never["inviteLink"]["id"]
    )
    assert revoked["inviteLink"] == {"id": never["inviteLink"]["id"], "revoked": True, "uses": 0}
    assert await join(any_api, late, inviteToken=never["token"]) == error(
        "InvalidToken", "INVALID_TOKEN", "This invite link was revoked.", "inviteToken"
    )
    assert await join(any_api, late, inviteToken="made-up") == error(
        "InvalidToken", "INVALID_TOKEN", "This invite link is not valid.", "inviteToken"
    )
    for bad in ({"expiresInHours": 0}, {"expiresInHours": 721}):
        assert await mutate(
            any_api, "createInviteLink", host.token, partyId=party["id"], **bad
        ) == error(
            "ValidationError",
            "VALIDATION",
            "Between 1 and 720 hours, or null for no expiry.",
            "expiresInHours",
        )
    assert await mutate(
        any_api, "createInviteLink", host.token, partyId=party["id"], maxUses=0
    ) == error(
        "ValidationError", "VALIDATION", "Between 1 and 10000, or null for no limit.", "maxUses"
    )


async def test_approval_queue(any_api: Api) -> None:
    host = await person(any_api)
    moderator = await person(any_api)
    party = await create_party(any_api, host, requireApproval=True, maxMembers=3)
    await mutate(any_api, "updateParty", host.token, partyId=party["id"], requireApproval=False)
    await joined(any_api, moderator, partyId=party["id"])
    await mutate(any_api, "updateParty", host.token, partyId=party["id"], requireApproval=True)
    await mutate(
        any_api,
        "setMemberRole",
        host.token,
        partyId=party["id"],
        userId=moderator.id,
        role="MODERATOR",
    )
    asker, other, third = (
        await person(any_api, "Asker"),
        await person(any_api),
        await person(any_api),
    )
    pending = await join(any_api, asker, partyId=party["id"])
    assert pending["__typename"] == "JoinPending"
    assert pending["member"]["status"] == "PENDING"
    assert pending["party"]["requiresApproval"] is True and pending["party"]["memberCount"] == 2
    assert (await join(any_api, asker, code=party["code"]))["__typename"] == "JoinPending"
    await join(any_api, other, partyId=party["id"])
    await join(any_api, third, partyId=party["id"])

    requests = await party_query(
        any_api, party["id"], moderator.token, "joinRequests { user { id } status }"
    )
    assert requests == {
        "joinRequests": [
            {"user": {"id": who.id}, "status": "PENDING"} for who in (asker, other, third)
        ]
    }
    assert await party_query(any_api, party["id"], asker.token, "joinRequests { status }") == {
        "joinRequests": None
    }
    assert (await party_query(any_api, party["id"], asker.token, "myMembership { status }")) == {
        "myMembership": {"status": "PENDING"}
    }

    approved = await mutate(
        any_api, "approveMember", moderator.token, partyId=party["id"], userId=asker.id
    )
    assert approved["member"]["status"] == "ACTIVE"
    assert await mutate(
        any_api, "approveMember", moderator.token, partyId=party["id"], userId=other.id
    ) == {
        **error("PartyFull", "PARTY_FULL", "This party is full (3 members)."),
        "maxMembers": 3,
    }
    rejected = await mutate(
        any_api, "rejectMember", moderator.token, partyId=party["id"], userId=other.id
    )
    assert rejected == {
        "__typename": "MemberRemovedPayload",
        "partyId": party["id"],
        "userId": other.id,
    }
    assert await mutate(
        any_api, "rejectMember", moderator.token, partyId=party["id"], userId=other.id
    ) == error("NotFound", "NOT_FOUND", "No pending request from this user.", "userId")
    withdrawn = await mutate(any_api, "leaveParty", third.token, partyId=party["id"])
    assert withdrawn["__typename"] == "LeavePartyPayload"
    types = await event_types(any_api, party["id"])
    assert types[-5:] == [
        "party.member_updated",
        "party.member_updated",
        "party.member_joined",
        "party.member_left",
        "party.member_left",
    ]


async def test_full_and_ended_parties_refuse_joins(any_api: Api) -> None:
    host = await person(any_api)
    party = await create_party(any_api, host, maxMembers=2)
    await joined(any_api, await person(any_api), partyId=party["id"])
    late = await person(any_api)
    assert await join(any_api, late, code=party["code"]) == {
        **error("PartyFull", "PARTY_FULL", "This party is full (2 members)."),
        "maxMembers": 2,
    }
    invite = await mutate(any_api, "createInviteLink", host.token, partyId=party["id"])
    assert (await join(any_api, late, inviteToken=invite["token"]))["__typename"] == "PartyFull"
    async with any_api.state.sessionmaker() as session:
        link = await session.get(InviteLink, uuid.UUID(invite["inviteLink"]["id"]))
        assert link is not None and link.uses == 0  # a refused join uses nothing up

    await mutate(any_api, "endParty", host.token, partyId=party["id"])
    ended = error("PartyEndedError", "PARTY_ENDED", "This party has ended.")
    assert await join(any_api, late, partyId=party["id"]) == ended
    assert await mutate(any_api, "createInviteLink", host.token, partyId=party["id"]) == ended


async def test_ban_with_until_and_unban(any_api: Api) -> None:
    host = await person(any_api)
    moderator = await person(any_api)
    troll = await person(any_api, "Troll")
    outsider = await person(any_api)
    party = await create_party(any_api, host)
    await joined(any_api, moderator, partyId=party["id"])
    await mutate(
        any_api,
        "setMemberRole",
        host.token,
        partyId=party["id"],
        userId=moderator.id,
        role="MODERATOR",
    )
    await joined(any_api, troll, partyId=party["id"])
    seen = len(await party_events(any_api, party["id"]))

    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    banned = await mutate(
        any_api,
        "banMember",
        moderator.token,
        partyId=party["id"],
        userId=troll.id,
        until=until.isoformat(),
    )
    assert banned["member"]["status"] == "BANNED"
    events = (await party_events(any_api, party["id"]))[seen:]
    assert events == [
        MembershipRevoked(reason="BANNED", user_id=troll.id),
        MemberLeft(user_id=troll.id),
    ]
    result = await join(any_api, troll, partyId=party["id"])
    assert result["__typename"] == "Banned" and result["code"] == "BANNED"
    assert datetime.fromisoformat(result["until"]) == until
    assert result["message"] == f"You are banned from this party until {until.isoformat()}."

    # Someone who never joined can be banned for good ahead of time.
    forever = await mutate(
        any_api, "banMember", host.token, partyId=party["id"], userId=outsider.id
    )
    assert forever["member"]["status"] == "BANNED"
    assert await join(any_api, outsider, code=party["code"]) == {
        **error("Banned", "BANNED", "You are banned from this party."),
        "until": None,
    }
    assert await mutate(
        any_api,
        "banMember",
        host.token,
        partyId=party["id"],
        userId=outsider.id,
        until=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    ) == error(
        "ValidationError",
        "VALIDATION",
        "Give a time in the future, or null for a permanent ban.",
        "until",
    )
    assert await mutate(
        any_api, "banMember", host.token, partyId=party["id"], userId=str(uuid.uuid4())
    ) == error("NotFound", "NOT_FOUND", "User not found.", "userId")

    # A lapsed ban lets the user back in.
    async with any_api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(PartyMember)
            .where(PartyMember.user_id == uuid.UUID(troll.id))
            .values(banned_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await joined(any_api, troll, partyId=party["id"])

    unbanned = await mutate(
        any_api, "unbanMember", moderator.token, partyId=party["id"], userId=outsider.id
    )
    assert unbanned["member"]["status"] == "LEFT"
    await joined(any_api, outsider, partyId=party["id"])
    assert await mutate(
        any_api, "unbanMember", moderator.token, partyId=party["id"], userId=outsider.id
    ) == error("NotFound", "NOT_FOUND", "This user is not banned from the party.", "userId")


async def test_kick_ends_membership_but_allows_rejoin(any_api: Api) -> None:
    host = await person(any_api)
    guest = await person(any_api)
    party = await create_party(any_api, host)
    await joined(any_api, guest, partyId=party["id"])
    seen = len(await party_events(any_api, party["id"]))
    kicked = await mutate(any_api, "kickMember", host.token, partyId=party["id"], userId=guest.id)
    assert kicked == {
        "__typename": "MemberRemovedPayload",
        "partyId": party["id"],
        "userId": guest.id,
    }
    assert (await party_events(any_api, party["id"]))[seen:] == [
        MembershipRevoked(reason="KICKED", user_id=guest.id),
        MemberLeft(user_id=guest.id),
    ]
    membership = await party_query(any_api, party["id"], guest.token, "myMembership { status }")
    assert membership == {"myMembership": {"status": "KICKED"}}
    assert await mutate(
        any_api, "kickMember", host.token, partyId=party["id"], userId=guest.id
    ) == error("NotFound", "NOT_FOUND", "This user is not a member of the party.", "userId")
    await joined(any_api, guest, partyId=party["id"])


async def test_roles_transfer_host_and_failover_on_leave(any_api: Api) -> None:
    host = await person(any_api, "Host")
    early = await person(any_api, "Early")
    cohost = await person(any_api, "Cohost")
    party = await create_party(any_api, host)
    await joined(any_api, early, partyId=party["id"])
    await joined(any_api, cohost, partyId=party["id"])
    pid = party["id"]

    made = await mutate(
        any_api, "setMemberRole", host.token, partyId=pid, userId=cohost.id, role="COHOST"
    )
    assert made["member"]["role"] == "COHOST"
    assert await mutate(
        any_api, "setMemberRole", host.token, partyId=pid, userId=early.id, role="HOST"
    ) == error("ValidationError", "VALIDATION", "Use transferHost to hand over hosting.", "role")
    assert await mutate(
        any_api, "setMemberRole", host.token, partyId=pid, userId=host.id, role="MEMBER"
    ) == error(
        "ValidationError", "VALIDATION", "The host's role changes only with transferHost.", "userId"
    )

    # The host leaves: the co-host takes over although `early` joined first.
    await mutate(any_api, "leaveParty", host.token, partyId=pid)
    view = await party_query(any_api, pid, early.token, "host { id } memberCount")
    assert view == {"host": {"id": cohost.id}, "memberCount": 2}
    events = await party_events(any_api, pid)
    assert [e.KIND for e in events[-3:]] == [
        "party.member_left",
        "party.member_updated",
        "party.updated",
    ]
    assert events[-2].member["role"] == "HOST" and events[-2].member["user"]["id"] == cohost.id
    assert events[-1].party["hostId"] == cohost.id

    transferred = await mutate(any_api, "transferHost", cohost.token, partyId=pid, userId=early.id)
    assert transferred["party"]["host"] == {"id": early.id}
    assert transferred["host"]["role"] == "HOST" and transferred["host"]["user"]["id"] == early.id
    assert transferred["previousHost"]["role"] == "COHOST"
    assert await mutate(
        any_api, "transferHost", early.token, partyId=pid, userId=early.id
    ) == error("ValidationError", "VALIDATION", "You are the host already.", "userId")
    assert await mutate(any_api, "transferHost", early.token, partyId=pid, userId=host.id) == error(
        "NotFound", "NOT_FOUND", "This user is not a member of the party.", "userId"
    )

    # Without co-hosts the longest-standing member takes over; the last one out ends the party.
    await mutate(
        any_api, "setMemberRole", early.token, partyId=pid, userId=cohost.id, role="MEMBER"
    )
    await joined(any_api, host, partyId=pid)
    await mutate(any_api, "leaveParty", early.token, partyId=pid)
    assert (await party_query(any_api, pid, cohost.token, "host { id }")) == {
        "host": {"id": cohost.id}
    }
    await mutate(any_api, "leaveParty", cohost.token, partyId=pid)
    assert (await party_query(any_api, pid, host.token, "host { id } status")) == {
        "host": {"id": host.id},
        "status": "LIVE",
    }
    await mutate(any_api, "leaveParty", host.token, partyId=pid)
    assert (await party_query(any_api, pid, None, "status memberCount")) == {
        "status": "ENDED",
        "memberCount": 0,
    }
    assert (await event_types(any_api, pid))[-2:] == ["party.member_left", "party.ended"]


async def test_host_failover_after_grace_prefers_online_cohost(any_api: Api) -> None:
    from watchparty.parties.failover import run_host_failover, schedule_host_failover
    from watchparty.parties.presence import get_presence

    host = await person(any_api, "Host")
    member = await person(any_api, "Member")
    cohost = await person(any_api, "Cohost")
    party = await create_party(any_api, host)
    pid = uuid.UUID(party["id"])
    await joined(any_api, member, partyId=party["id"])
    await joined(any_api, cohost, partyId=party["id"])
    await mutate(
        any_api, "setMemberRole", host.token, partyId=party["id"], userId=cohost.id, role="COHOST"
    )
    presence = get_presence(any_api.state)
    state = any_api.state

    # Only a host's departure schedules a check.
    assert await schedule_host_failover(state, pid, uuid.UUID(member.id)) is False
    await presence.connect(pid, uuid.UUID(host.id), "h1")
    assert await run_host_failover(state, pid, uuid.UUID(host.id)) is False  # back online
    await presence.disconnect(pid, uuid.UUID(host.id), "h1")
    # Nobody online to take over: the host keeps the party.
    assert await run_host_failover(state, pid, uuid.UUID(host.id)) is False

    await presence.connect(pid, uuid.UUID(member.id), "m1")
    await presence.connect(pid, uuid.UUID(cohost.id), "c1")
    await presence.disconnect(pid, uuid.UUID(cohost.id), "c1")  # the co-host is away too
    assert await run_host_failover(state, pid, uuid.UUID(host.id)) is True
    view = await party_query(
        any_api, party["id"], member.token, "host { id } myMembership { role }"
    )
    assert view == {"host": {"id": member.id}, "myMembership": {"role": "HOST"}}
    old = await party_query(any_api, party["id"], host.token, "myMembership { role status }")
    assert old == {"myMembership": {"role": "COHOST", "status": "ACTIVE"}}
    # Idempotent: the same check again changes nothing.
    assert await run_host_failover(state, pid, uuid.UUID(host.id)) is False
    await presence.disconnect(pid, uuid.UUID(member.id), "m1")


async def test_members_connection_pages_and_filters_by_presence(any_api: Api) -> None:
    from watchparty.parties.presence import get_presence

    host = await person(any_api, "Host")
    party = await create_party(any_api, host)
    guests = [await person(any_api, f"Guest {i}") for i in range(4)]
    for guest in guests:
        await joined(any_api, guest, partyId=party["id"])
    pid = uuid.UUID(party["id"])
    presence = get_presence(any_api.state)
    online = [host, guests[1], guests[3]]
    for who in online:
        await presence.connect(pid, uuid.UUID(who.id), f"conn-{who.id}")
    outsider = await person(any_api)
    await presence.connect(pid, uuid.UUID(outsider.id), "viewer")  # a PUBLIC viewer, no member
    try:
        query = """query($id: ID!, $first: Int, $after: String, $online: Boolean) {
            party(id: $id) { memberCount onlineCount
              members(first: $first, after: $after, online: $online) {
                totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
                edges { cursor node { user { id } role online } } } } }"""
        ids: list[str] = []
        after = None
        while True:
            page = (await any_api.gql(query, {"id": party["id"], "first": 2, "after": after})).data[
                "party"
            ]
            assert (page["memberCount"], page["onlineCount"]) == (5, 3)
            members = page["members"]
            assert members["totalCount"] == 5
            ids += [e["node"]["user"]["id"] for e in members["edges"]]
            if not members["pageInfo"]["hasNextPage"]:
                break
            after = members["pageInfo"]["endCursor"]
        assert ids == [host.id] + [g.id for g in guests]  # longest-standing first

        on = (await any_api.gql(query, {"id": party["id"], "online": True})).data["party"]
        assert [e["node"] for e in on["members"]["edges"]] == [
            {"user": {"id": who.id}, "role": "HOST" if who is host else "MEMBER", "online": True}
            for who in online
        ]
        assert on["members"]["totalCount"] == 3
        off = (await any_api.gql(query, {"id": party["id"], "online": False})).data["party"]
        assert [e["node"]["user"]["id"] for e in off["members"]["edges"]] == [
            guests[0].id,
            guests[2].id,
        ]
        big = (await any_api.gql(query, {"id": party["id"], "first": 1000})).data["party"]
        assert len(big["members"]["edges"]) == 5  # capped at 100, here all 5
        negative = await any_api.gql(query, {"id": party["id"], "first": -1})
        assert negative.body["errors"][0]["message"] == "`first` must not be negative."
        assert negative.body["errors"][0]["path"] == ["party", "members"]
    finally:
        for who in [*online, outsider]:
            await presence.disconnect(
                pid, uuid.UUID(who.id), "viewer" if who is outsider else f"conn-{who.id}"
            )


async def test_offline_host_check_runs_as_a_job_after_the_grace(tmp_path: Path) -> None:
    from watchparty.parties.failover import schedule_host_failover
    from watchparty.parties.presence import get_presence

    settings = make_settings(
        "embedded", database_url="", tmp=tmp_path, host_failover_grace_seconds=0.05
    )
    async with running_app(settings) as api:
        host = await person(api, "Host")
        member = await person(api, "Member")
        party = await create_party(api, host)
        await joined(api, member, partyId=party["id"])
        pid = uuid.UUID(party["id"])
        await get_presence(api.state).connect(pid, uuid.UUID(member.id), "m1")
        assert await schedule_host_failover(api.state, pid, uuid.UUID(host.id)) is True
        for _ in range(200):  # the deferred job starts after the grace period
            await asyncio.sleep(0.02)
            await api.drain_jobs()
            view = await party_query(api, party["id"], member.token, "host { id }")
            if view["host"]["id"] == member.id:
                break
        assert view == {"host": {"id": member.id}}
        assert (await event_types(api, party["id"]))[-3:] == [
            "party.member_updated",
            "party.member_updated",
            "party.updated",
        ]
