"""The objects the fuzzer aims at: people, parties, a queue, messages, a poll, an invite, an
upload, created through the API before the fuzzing starts (tests/test_fuzz_api.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.fuzz import World
from tests.support import PASSWORD, Api, unique_email


async def _mutate(
    api: Api, name: str, input_type: str, value: dict[str, Any], token: str, selection: str
) -> Any:
    result = await api.gql(
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {selection} "
        "... on UserError { code message } } }",
        {"input": value},
        token=token,
    )
    payload = result.data[name]
    assert "code" not in payload, payload
    return payload


async def build_world(api: Api) -> World:
    """Three people, a party with a queue, messages, a poll and an invite, a victim party for
    the mutations that end one, and an upload."""
    people = {}
    emails = {}
    for role in ("host", "member", "stranger"):
        emails[role] = unique_email(f"fuzz-{role}")
        people[role] = await api.register(email=emails[role], display_name=f"Fuzz {role}")
    host = people["host"]["accessToken"]
    member = people["member"]["accessToken"]
    ids: dict[str, list[str]] = {"user": [p["user"]["id"] for p in people.values()]}
    party_fields = "... on PartyPayload { party { id code } }"
    party_input = {
        "title": "Fuzz night",
        "visibility": "PUBLIC",
        "media": {"url": "https://videos.example.com/a.mp4", "durationSeconds": 600},
    }
    party = (
        await _mutate(api, "createParty", "CreatePartyInput", party_input, host, party_fields)
    )["party"]
    victim = (
        await _mutate(
            api,
            "createParty",
            "CreatePartyInput",
            {"title": "Victim", "visibility": "PUBLIC"},
            host,
            party_fields,
        )
    )["party"]
    ids["party"] = [party["id"]]
    ids["victim"] = [victim["id"]]
    for party_id in (party["id"], victim["id"]):
        await _mutate(api, "joinParty", "JoinPartyInput", {"partyId": party_id}, member, "")
    queue = await _mutate(
        api,
        "addToQueue",
        "AddToQueueInput",
        {
            "partyId": party["id"],
            "media": {"url": "https://videos.example.com/b.mp4", "title": "B"},
        },
        host,
        "... on QueuePayload { queue { id } }",
    )
    ids["item"] = [item["id"] for item in queue["queue"]]
    ids["message"] = []
    for token, body in ((host, "hello"), (member, "hi there")):
        sent = await _mutate(
            api,
            "sendMessage",
            "SendMessageInput",
            {"partyId": party["id"], "body": body},
            token,
            "... on ChatMessagePayload { chatMessage { id } }",
        )
        ids["message"].append(sent["chatMessage"]["id"])
    poll = await _mutate(
        api,
        "createPoll",
        "CreatePollInput",
        {"partyId": party["id"], "question": "Which?", "options": ["A", "B"]},
        host,
        "... on PollPayload { poll { id options { id } } }",
    )
    ids["poll"] = [poll["poll"]["id"]]
    ids["option"] = [option["id"] for option in poll["poll"]["options"]]
    invite = await _mutate(
        api,
        "createInviteLink",
        "CreateInviteLinkInput",
        {"partyId": party["id"]},
        host,
        "... on CreateInviteLinkPayload { token inviteLink { id } }",
    )
    ids["invite"] = [invite["inviteLink"]["id"]]
    upload = await _mutate(
        api,
        "createVideoUpload",
        "CreateVideoUploadInput",
        {"title": "Clip", "filename": "clip.mp4", "sizeBytes": 1000, "contentType": "video/mp4"},
        host,
        "... on VideoUploadPayload { uploadUrl video { id } }",
    )
    ids["video"] = [upload["video"]["id"]]
    strings = {
        "code": [party["code"], victim["code"]],
        "inviteToken": [invite["token"]],
        "email": list(emails.values()),
        "emoji": ["👍", "😂", "🔥"],
        "uploadPath": [urlsplit(upload["uploadUrl"]).path],
        "origin": [api.settings.allowed_origins[0]],
    }
    tokens = {
        "anonymous": None,
        "host": host,
        "member": member,
        "stranger": people["stranger"]["accessToken"],
    }
    return World(tokens=tokens, ids=ids, strings=strings, password=PASSWORD)
