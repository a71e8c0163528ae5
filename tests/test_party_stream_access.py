"""Who may follow a party, presence, and how a member's stream ends when they are removed."""

from __future__ import annotations

from typing import Any

from tests.support import Api, live_server
from tests.test_party_stream_support import (
    User,
    create_party,
    eventually,
    invite_and_join,
    join,
    ok,
    party_field,
    party_stream,
    presence,
    rename,
    seek,
    stream_error,
    user,
)
from watchparty.parties.presence import get_keeper


async def set_role(api: Api, host: User, party_id: str, member: User, role: str) -> None:
    await ok(
        api,
        """mutation($input: SetMemberRoleInput!) { setMemberRole(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"partyId": party_id, "userId": member.id, "role": role}},
        host.token,
    )


async def remove(api: Api, host: User, party_id: str, member: User, how: str) -> None:
    name = {"kick": "kickMember", "ban": "banMember"}[how]
    kind = {"kick": "KickMemberInput", "ban": "BanMemberInput"}[how]
    await ok(
        api,
        f"""mutation($input: {kind}!) {{ {name}(input: $input) {{
            __typename ... on UserError {{ code message }} }} }}""",
        {"input": {"partyId": party_id, "userId": member.id}},
        host.token,
    )


async def test_authorization_matrix_of_the_stream(any_api: Api) -> None:
    host = await user(any_api, "Host")
    people = {role: await user(any_api, role) for role in ("COHOST", "MODERATOR", "MEMBER")}
    stranger = await user(any_api, "Stranger")
    parties = {}
    for visibility in ("PRIVATE", "UNLISTED", "PUBLIC"):
        party_id = await create_party(any_api, host, visibility=visibility)
        for role, person in people.items():
            await invite_and_join(any_api, host, person, party_id)
            if role != "MEMBER":
                await set_role(any_api, host, party_id, person, role)
        parties[visibility] = party_id

    def error(code: str, message: str) -> list[dict[str, Any]]:
        return [{"message": message, "extensions": {"code": code}}]

    not_found = error("NOT_FOUND", "Party not found.")
    sign_in = error("NOT_AUTHENTICATED", "You need to sign in.")
    members_only = error("NOT_ALLOWED", "Only members of this party can follow it.")
    expected_errors = {
        ("PRIVATE", "anonymous"): not_found,
        ("PRIVATE", "stranger"): not_found,
        ("UNLISTED", "anonymous"): sign_in,
        ("UNLISTED", "stranger"): members_only,
        ("PUBLIC", "anonymous"): sign_in,
    }
    viewers: dict[str, User | None] = {
        "anonymous": None,
        "stranger": stranger,
        "member": people["MEMBER"],
        "moderator": people["MODERATOR"],
        "cohost": people["COHOST"],
        "host": host,
    }
    async with live_server(any_api.app) as base:
        for visibility, party_id in parties.items():
            for name, viewer in viewers.items():
                expected = expected_errors.get((visibility, name))
                if expected is not None:
                    assert await stream_error(base, viewer, party_id) == expected, (
                        visibility,
                        name,
                    )
                    continue
                async with party_stream(base, viewer, party_id) as stream:
                    first = await stream.next()
                assert first["event"]["__typename"] == "PartySnapshot", (visibility, name)
                assert first["event"]["party"]["id"] == party_id


async def test_presence_online_while_a_connection_holds_the_stream(any_api: Api) -> None:
    host = await user(any_api, "Host")
    guest = await user(any_api, "Guest")
    party_id = await create_party(any_api, host)
    await invite_and_join(any_api, host, guest, party_id)
    keeper = get_keeper(any_api.state)

    async def online() -> tuple[int, list[str]]:
        party = await party_field(
            any_api,
            host,
            party_id,
            "onlineCount members(online: true) { edges { node { user { id } } } }",
        )
        ids = [edge["node"]["user"]["id"] for edge in party["members"]["edges"]]
        return party["onlineCount"], sorted(ids)

    assert await online() == (0, [])
    async with live_server(any_api.app) as base, party_stream(base, host, party_id) as watcher:
        snapshot = await watcher.next()
        assert snapshot["event"]["party"]["onlineCount"] == 1
        me = await watcher.next()  # holding the stream made the host come online
        assert me["event"] == presence(came=[host.id], count=1)
        assert await online() == (1, [host.id])
        async with party_stream(base, guest, party_id) as first:
            await first.next()
            came = await watcher.next_event()
            assert came["cursor"] is None
            assert came["event"] == presence(came=[guest.id], count=2)
            assert await online() == (2, sorted([host.id, guest.id]))
            held = keeper.held
            async with party_stream(base, guest, party_id) as second:
                await second.next()
                assert keeper.held == held + 1
            # The second connection let go, the first still holds: no transition.
            await eventually(lambda: _is(keeper.held, held))
            assert await online() == (2, sorted([host.id, guest.id]))
            revision = await seek(any_api, host, party_id, 7.0)
            nothing_else = await watcher.next_event()
            assert nothing_else["event"]["__typename"] == "PlaybackChanged"
            assert nothing_else["event"]["playback"]["revision"] == revision
        went = await watcher.next_event()
        assert went["cursor"] is None
        assert went["event"] == presence(went=[guest.id], count=1)
        assert await online() == (1, [host.id])
    await eventually(lambda: _online_count_is(any_api, host, party_id, 0))


async def _is(value: int, expected: int) -> bool:
    return value == expected


async def _online_count_is(api: Api, who: User, party_id: str, expected: int) -> bool:
    return (await party_field(api, who, party_id, "onlineCount"))["onlineCount"] == expected


async def test_kicked_and_banned_members_streams_end_with_membership_revoked(any_api: Api) -> None:
    host = await user(any_api, "Host")
    kicked = await user(any_api, "Kicked")
    banned = await user(any_api, "Banned")
    party_id = await create_party(any_api, host)
    for member in (kicked, banned):
        await invite_and_join(any_api, host, member, party_id)
    async with (
        live_server(any_api.app) as base,
        party_stream(base, host, party_id) as watcher,
        party_stream(base, kicked, party_id) as kicked_stream,
        party_stream(base, banned, party_id) as banned_stream,
    ):
        for stream in (watcher, kicked_stream, banned_stream):
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"

        await remove(any_api, host, party_id, kicked, "kick")
        revoked = await kicked_stream.next_event("PresenceChanged")
        assert revoked["event"] == {"__typename": "MembershipRevoked", "reason": "KICKED"}
        assert revoked["cursor"] is not None
        assert await kicked_stream.ending() == [{"id": kicked_stream.op_id, "type": "complete"}]

        await remove(any_api, host, party_id, banned, "ban")
        revoked = await banned_stream.next_event("PresenceChanged", "MemberLeft")
        assert revoked["event"] == {"__typename": "MembershipRevoked", "reason": "BANNED"}
        assert await banned_stream.ending() == [{"id": banned_stream.op_id, "type": "complete"}]

        # Everybody else sees them leave (and go offline), never the revocation itself.
        seen = []
        while len([s for s in seen if s[0] == "MemberLeft"]) < 2:
            item = await watcher.next_event()
            event = item["event"]
            seen.append((event["__typename"], event.get("userId")))
        assert ("MembershipRevoked", None) not in seen
        assert [s for s in seen if s[0] == "MemberLeft"] == [
            ("MemberLeft", kicked.id),
            ("MemberLeft", banned.id),
        ]
        # A removed member of a PRIVATE party cannot come back to the stream.
        not_found = [{"message": "Party not found.", "extensions": {"code": "NOT_FOUND"}}]
        assert await stream_error(base, kicked, party_id) == not_found
        assert await stream_error(base, banned, party_id) == not_found


async def test_deleting_a_party_ends_every_stream(any_api: Api) -> None:
    host = await user(any_api, "Host")
    guest = await user(any_api, "Guest")
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    await join(any_api, guest, party_id)
    viewer = await user(any_api, "Viewer")  # signed in, not a member, PUBLIC party
    async with (
        live_server(any_api.app) as base,
        party_stream(base, host, party_id) as host_stream,
        party_stream(base, guest, party_id) as guest_stream,
        party_stream(base, viewer, party_id) as viewer_stream,
    ):
        for stream in (host_stream, guest_stream, viewer_stream):
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
        await ok(
            any_api,
            """mutation($input: DeletePartyInput!) { deleteParty(input: $input) {
                __typename ... on UserError { code message } } }""",
            {"input": {"partyId": party_id}},
            host.token,
        )
        for stream in (host_stream, guest_stream, viewer_stream):
            item = await stream.next_event("PresenceChanged")
            assert item["event"] == {"__typename": "MembershipRevoked", "reason": "PARTY_DELETED"}
            assert await stream.ending() == [{"id": stream.op_id, "type": "complete"}]


async def test_a_viewer_who_can_no_longer_see_the_party_is_let_go(any_api: Api) -> None:
    """Leaving a PRIVATE party, or a PUBLIC party turning PRIVATE for a mere viewer, completes
    the stream after the event that caused it."""
    host = await user(any_api, "Host")
    guest = await user(any_api, "Guest")
    viewer = await user(any_api, "Viewer")
    private_id = await create_party(any_api, host, visibility="PRIVATE")
    public_id = await create_party(any_api, host, visibility="PUBLIC")
    await invite_and_join(any_api, host, guest, private_id)
    async with live_server(any_api.app) as base:
        async with party_stream(base, guest, private_id) as stream:
            await stream.next()
            await ok(
                any_api,
                """mutation($input: LeavePartyInput!) { leaveParty(input: $input) {
                    __typename ... on UserError { code message } } }""",
                {"input": {"partyId": private_id}},
                guest.token,
            )
            left = await stream.next_event("PresenceChanged", "MemberUpdated")
            assert left["event"] == {"__typename": "MemberLeft", "userId": guest.id}
            assert await stream.ending() == [{"id": stream.op_id, "type": "complete"}]
        async with party_stream(base, viewer, public_id) as stream:
            await stream.next()
            await rename(any_api, host, public_id, "Members only", visibility="PRIVATE")
            updated = await stream.next_event("PresenceChanged")
            assert updated["event"]["__typename"] == "PartyUpdated"
            assert updated["event"]["party"]["visibility"] == "PRIVATE"
            assert await stream.ending() == [{"id": stream.op_id, "type": "complete"}]
