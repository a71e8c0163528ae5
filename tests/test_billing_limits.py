"""Entitlements enforced in every consuming operation, through GraphQL on both stacks: members,
hosted parties and screen shares (the host's plan), uploads and storage (the uploader's), with
exact `PlanLimitExceeded` answers; a downgrade keeps what exists and refuses new use; with
billing off nothing is gated."""

from __future__ import annotations

import uuid
from typing import Any

from tests.billing_support import (
    GIB,
    PLAN_ERROR,
    billing_api,
    party_mutation,
    plan_error,
    set_status,
    subscribe,
)
from tests.parties_ops import Person, create_party, person
from tests.support import Api
from tests.test_notifications_invites import ACCEPT, acquainted, answer, invitations, invite
from tests.test_voice import op as voice_op
from watchparty.accounts.models import User
from watchparty.billing.models import PlanId, SubscriptionStatus
from watchparty.parties.models import MemberStatus, PartyMember
from watchparty.videos.models import Video, VideoProvider, VideoStatus

__all__ = ["billing_api"]

UPLOAD = f"""mutation($input: CreateVideoUploadInput!) {{ createVideoUpload(input: $input) {{
  __typename ... on VideoUploadPayload {{ video {{ id }} }}
  ... on UserError {{ code message field }} {PLAN_ERROR} }} }}"""
MY_VIDEOS = "{ myVideos(first: 50) { edges { node { id } } } }"


async def create(api: Api, host: Person, **input: Any) -> dict[str, Any]:
    return await party_mutation(api, "createParty", host.token, title="Movie night", **input)


async def add_members(api: Api, party_id: str, count: int) -> None:
    """`count` active members (accounts and memberships written directly: setup only)."""
    async with api.state.unit_of_work() as uow:
        for n in range(count):
            user = User(
                id=uuid.uuid4(),
                email=f"filler-{uuid.uuid4().hex[:12]}@example.com",
                display_name=f"Filler {n}",
            )
            uow.session.add(user)
            await uow.session.flush()
            uow.session.add(
                PartyMember(
                    party_id=uuid.UUID(party_id), user_id=user.id, status=MemberStatus.ACTIVE
                )
            )


async def member_count(api: Api, party_id: str, who: Person) -> int:
    query = "query($id: ID!) { party(id: $id) { memberCount } }"
    count: int = (await api.gql(query, {"id": party_id}, token=who.token)).data["party"][
        "memberCount"
    ]
    return count


async def upload(api: Api, who: Person, size: float) -> dict[str, Any]:
    variables = {
        "input": {
            "title": "Clip",
            "filename": "clip.mp4",
            "sizeBytes": size,
            "contentType": "video/mp4",
        }
    }
    result: dict[str, Any] = (await api.gql(UPLOAD, variables, token=who.token)).data[
        "createVideoUpload"
    ]
    return result


async def test_create_party_within_the_hosts_plan(billing_api: Api) -> None:
    host = await person(billing_api, "Host")
    # maxMembers left out: 50, or the plan's limit when lower (FREE: 20).
    first = await create(billing_api, host)
    assert first["party"]["settings"]["maxMembers"] == 20
    assert await create(billing_api, host, maxMembers=21) == plan_error(
        "PARTY_MEMBERS",
        20,
        "FREE",
        "PLUS",
        "Your Free plan allows 20 members per party.",
        "maxMembers",
    )
    assert (await create(billing_api, host, maxMembers=101))["upgradeTo"] == "PREMIUM"
    assert await create(billing_api, host, maxScreenShares=2) == plan_error(
        "SCREEN_SHARES",
        1,
        "FREE",
        "PLUS",
        "Your Free plan allows 1 screen shares at once.",
        "maxScreenShares",
    )
    # Validation comes first: a value no plan allows is a ValidationError.
    assert (await create(billing_api, host, maxMembers=1001))["__typename"] == "ValidationError"
    second = await create(billing_api, host, maxMembers=2)
    assert second["__typename"] == "PartyPayload"
    hosted = plan_error(
        "HOSTED_PARTIES",
        2,
        "FREE",
        "PLUS",
        "Your Free plan allows hosting 2 parties at once; end one first.",
    )
    assert await create(billing_api, host) == hosted
    ended = await party_mutation(billing_api, "endParty", host.token, partyId=second["party"]["id"])
    assert ended["__typename"] == "PartyPayload"
    assert (await create(billing_api, host))["__typename"] == "PartyPayload"
    assert await create(billing_api, host) == hosted

    await subscribe(billing_api, host, PlanId.PLUS)
    plus = await create(billing_api, host, maxScreenShares=2)
    assert plus["party"]["settings"]["maxMembers"] == 50
    assert (await create(billing_api, host, maxMembers=100))["__typename"] == "PartyPayload"


async def test_a_downgrade_keeps_the_members_and_refuses_new_ones(billing_api: Api) -> None:
    host = await person(billing_api, "Host")
    sub = await subscribe(billing_api, host, PlanId.PLUS)
    party = await create_party(billing_api, host, maxMembers=60)
    pid = party["id"]
    await add_members(billing_api, pid, 49)
    invited = await person(billing_api, "Invited")
    await acquainted(billing_api, host, invited)  # so the host may invite them later
    joiner = await person(billing_api, "Joiner")
    joined = await party_mutation(billing_api, "joinParty", joiner.token, code=party["code"])
    assert joined["__typename"] == "JoinPartyPayload"
    assert await member_count(billing_api, pid, host) == 51

    await set_status(billing_api, sub, SubscriptionStatus.CANCELED)  # the host drops to FREE
    assert await member_count(billing_api, pid, host) == 51  # nobody is removed
    late = await person(billing_api, "Late")
    full = plan_error(
        "PARTY_MEMBERS",
        20,
        "FREE",
        "PLUS",
        "This party's host's Free plan allows 20 members per party.",
    )
    assert await party_mutation(billing_api, "joinParty", late.token, code=party["code"]) == full
    # The joiner's own plan does not matter: the host's decides.
    await subscribe(billing_api, late, PlanId.PREMIUM)
    assert await party_mutation(billing_api, "joinParty", late.token, code=party["code"]) == full
    # A direct invitation refuses the same way.
    sent = await invite(billing_api, host, pid, invited)
    assert sent["__typename"] == "InviteToPartyPayload", sent
    (notice,) = await invitations(billing_api, invited)
    accept = ACCEPT.replace("... on UserError", f"{PLAN_ERROR} ... on UserError")
    assert await answer(billing_api, accept, invited, notice["id"]) == {
        key: full[key] for key in ("__typename", "code", "message", "field", "limit", "value")
    } | {"plan": "FREE", "upgradeTo": "PLUS"}
    # Settings: keeping or lowering what is above the plan is fine; raising it is not.
    lowered = await party_mutation(
        billing_api, "updateParty", host.token, partyId=pid, maxMembers=55
    )
    assert lowered["party"]["settings"]["maxMembers"] == 55
    assert await party_mutation(
        billing_api, "updateParty", host.token, partyId=pid, maxMembers=56
    ) == plan_error(
        "PARTY_MEMBERS",
        20,
        "FREE",
        "PLUS",
        "Your Free plan allows 20 members per party.",
        "maxMembers",
    )
    assert await member_count(billing_api, pid, host) == 51

    # The host pays again: joins work at once.
    await set_status(billing_api, sub, SubscriptionStatus.ACTIVE)
    again = await party_mutation(billing_api, "joinParty", late.token, code=party["code"])
    assert again["__typename"] == "JoinPartyPayload"
    assert await member_count(billing_api, pid, host) == 52


async def test_approval_checks_the_hosts_plan_and_a_transfer_hands_it_over(
    billing_api: Api,
) -> None:
    host = await person(billing_api, "Host")
    party = await create_party(billing_api, host, maxMembers=20, requireApproval=True)
    pid = party["id"]
    await add_members(billing_api, pid, 18)  # 19 with the host
    cohost = await person(billing_api, "Cohost")
    asked = await party_mutation(billing_api, "joinParty", cohost.token, code=party["code"])
    assert asked["__typename"] == "JoinPending"
    approved = await party_mutation(
        billing_api, "approveMember", host.token, partyId=pid, userId=cohost.id
    )
    assert approved["__typename"] == "PartyMemberPayload"  # 20: the FREE limit, reached
    # The party's own limit is reached first (PartyFull), and it cannot be raised on FREE.
    waiting = await person(billing_api, "Waiting")
    assert (await party_mutation(billing_api, "joinParty", waiting.token, code=party["code"]))[
        "__typename"
    ] == "JoinPending"
    assert (
        await party_mutation(
            billing_api, "approveMember", host.token, partyId=pid, userId=waiting.id
        )
    )["__typename"] == "PartyFull"
    raise_it = await party_mutation(
        billing_api, "updateParty", host.token, partyId=pid, maxMembers=40
    )
    assert raise_it["limit"] == "PARTY_MEMBERS"
    # Hosting goes to a PREMIUM member: their plan now decides; nothing was refused to transfer.
    await subscribe(billing_api, cohost, PlanId.PREMIUM)
    moved = await party_mutation(
        billing_api, "transferHost", host.token, partyId=pid, userId=cohost.id
    )
    assert moved["__typename"] == "TransferHostPayload", moved
    raised = await party_mutation(
        billing_api, "updateParty", cohost.token, partyId=pid, maxMembers=40
    )
    assert raised["party"]["settings"]["maxMembers"] == 40
    approved = await party_mutation(
        billing_api, "approveMember", cohost.token, partyId=pid, userId=waiting.id
    )
    assert approved["__typename"] == "PartyMemberPayload"
    assert await member_count(billing_api, pid, cohost) == 21
    # A co-host changing a setting meets the host's plan ("This party's host's ...").
    await party_mutation(
        billing_api, "setMemberRole", cohost.token, partyId=pid, userId=host.id, role="COHOST"
    )
    over = await party_mutation(
        billing_api, "updateParty", host.token, partyId=pid, maxScreenShares=5
    )
    assert over == plan_error(
        "SCREEN_SHARES",
        4,
        "PREMIUM",
        None,
        "This party's host's Premium plan allows 4 screen shares at once.",
        "maxScreenShares",
    )


async def test_screen_shares_beyond_the_hosts_plan(billing_api: Api) -> None:
    host = await person(billing_api, "Host")
    sub = await subscribe(billing_api, host, PlanId.PLUS)
    party = await create_party(billing_api, host, maxScreenShares=2)
    pid = party["id"]
    member = await person(billing_api, "Member")
    joined = await party_mutation(billing_api, "joinParty", member.token, code=party["code"])
    assert joined["__typename"] == "JoinPartyPayload"
    assert (await voice_op(billing_api, "startScreenShare", host, partyId=pid))[
        "__typename"
    ] == "ScreenSharePayload"
    assert (await voice_op(billing_api, "startScreenShare", member, partyId=pid))[
        "__typename"
    ] == "ScreenSharePayload"
    await set_status(billing_api, sub, SubscriptionStatus.CANCELED)
    # Both shares go on; once one stops, a new one is over the FREE plan's 1.
    stopped = await voice_op(billing_api, "stopScreenShare", member, partyId=pid)
    assert stopped["__typename"] == "StopScreenSharePayload"
    query = (
        "mutation($input: VoicePartyInput!) { startScreenShare(input: $input) { __typename "
        f"... on UserError {{ code message field }} {PLAN_ERROR} }} }}"
    )
    refused = await billing_api.gql(query, {"input": {"partyId": pid}}, token=member.token)
    assert refused.data["startScreenShare"] == plan_error(
        "SCREEN_SHARES",
        1,
        "FREE",
        "PLUS",
        "This party's host's Free plan allows 1 screen shares at once.",
    )


async def test_uploads_within_the_uploaders_plan_and_a_downgrade_keeps_videos(
    billing_api: Api,
) -> None:
    alice = await person(billing_api, "Alice")
    assert await upload(billing_api, alice, GIB + 1) == plan_error(
        "UPLOAD_BYTES",
        float(GIB),
        "FREE",
        "PLUS",
        "Your Free plan allows uploads of at most 1 GB.",
        "sizeBytes",
    )
    assert (await upload(billing_api, alice, GIB))["__typename"] == "VideoUploadPayload"
    assert (await upload(billing_api, alice, 0.5 * GIB))["__typename"] == "VideoUploadPayload"
    storage = plan_error(
        "STORAGE_BYTES",
        2.0 * GIB,
        "FREE",
        "PLUS",
        "Your Free plan stores 2 GB of videos; delete some first.",
        "sizeBytes",
    )
    assert await upload(billing_api, alice, 0.5 * GIB + 1) == storage
    assert (await upload(billing_api, alice, 0.5 * GIB))["__typename"] == "VideoUploadPayload"

    # PLUS stores 50 GB; dropping to FREE keeps every video and refuses the next upload.
    bob = await person(billing_api, "Bob")
    sub = await subscribe(billing_api, bob, PlanId.PLUS)
    for _ in range(4):
        assert (await upload(billing_api, bob, 5 * GIB))["__typename"] == "VideoUploadPayload"
    await set_status(billing_api, sub, SubscriptionStatus.CANCELED)
    mine = (await billing_api.gql(MY_VIDEOS, token=bob.token)).data["myVideos"]["edges"]
    assert len(mine) == 4
    refused = await upload(billing_api, bob, 1)
    assert (refused["limit"], refused["value"], refused["upgradeTo"]) == (
        "STORAGE_BYTES",
        2.0 * GIB,
        "PLUS",
    )
    # Deleted videos and external ones take no storage.
    delete = """mutation($input: DeleteVideoInput!) { deleteVideo(input: $input) { __typename } }"""
    for edge in mine[:3]:
        deleted = await billing_api.gql(
            delete, {"input": {"id": edge["node"]["id"]}}, token=bob.token
        )
        assert deleted.data["deleteVideo"]["__typename"] == "DeleteVideoPayload"
    async with billing_api.state.unit_of_work() as uow:
        uow.session.add(
            Video(
                owner_id=uuid.UUID(bob.id),
                title="External",
                status=VideoStatus.READY,
                provider=VideoProvider.YOUTUBE,
                size_bytes=100 * GIB,
            )
        )
    assert (await upload(billing_api, bob, 1))["limit"] == "STORAGE_BYTES"  # 5 GB still stored
    last = await billing_api.gql(delete, {"input": {"id": mine[3]["node"]["id"]}}, token=bob.token)
    assert last.data["deleteVideo"]["__typename"] == "DeleteVideoPayload"
    assert (await upload(billing_api, bob, GIB))["__typename"] == "VideoUploadPayload"


async def test_billing_off_gates_nothing(any_api: Api) -> None:
    host = await person(any_api, "Host")
    for _ in range(3):
        created = await create(any_api, host, maxMembers=1000, maxScreenShares=10)
        assert created["__typename"] == "PartyPayload"
    assert (await create(any_api, host))["party"]["settings"]["maxMembers"] == 50
    assert (await upload(any_api, host, 5 * GIB))["__typename"] == "VideoUploadPayload"
