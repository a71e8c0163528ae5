"""`search`, `searchSuggestions`, the discovery lists and `searchKey`, on both stacks: the
production one searching the real Typesense server, and the embedded one searching SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.analytics_ingest_ops import server_events
from tests.parties_ops import joined, mutate, person
from tests.search_support import (
    indexed,
    party,
    public_video,
    search,
    titles,
    typesense_app,
    typo,
    word,
)
from tests.support import Api
from tests.typesense_server import TypesenseServer
from tests.videos_ops import video_mutate
from watchparty.cli import main


@pytest.fixture(scope="module")
async def api_typesense(
    typesense: TypesenseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    async with typesense_app(typesense, tmp_path_factory.mktemp("search")) as api:
        yield api


@pytest.fixture(params=["typesense", "embedded"])
def stack(request: pytest.FixtureRequest) -> Api:
    fixture = "api_typesense" if request.param == "typesense" else "api_embedded"
    api: Api = request.getfixturevalue(fixture)
    return api


def facet(answer: dict[str, Any], name: str) -> dict[str, int]:
    for item in answer["facets"]:
        if item["field"] == name:
            return {c["value"]: c["count"] for c in item["counts"]}
    return {}


def source_of(api: Api) -> str:
    return "TYPESENSE" if api.settings.typesense_url else "DATABASE"


async def test_prefix_typo_and_highlights(stack: Api) -> None:
    host = await person(stack, "Hostess")
    key = word()
    created = await party(stack, host, f"{key.capitalize()} night", description=f"All {key} films")
    await indexed(stack)

    answer = await search(stack, key[:5])  # instant search: a prefix of the word
    assert answer["source"] == source_of(stack)
    assert [e["node"]["id"] for e in answer["edges"]] == [created["id"]]
    edge = answer["edges"][0]
    assert edge["node"]["__typename"] == "Party"
    snippets = {h["field"]: h["snippet"] for h in edge["highlights"]}
    assert snippets["title"].startswith("<mark>")
    assert "</mark>" in snippets["title"]
    assert f"<mark>{key[:5]}" in snippets["description"].lower()

    misspelt = await search(stack, typo(key))
    if stack.settings.typesense_url:  # typo tolerance; SQLite has none (README "Search")
        assert titles(misspelt) == [f"{key.capitalize()} night"]
    else:
        assert titles(misspelt) == []


async def test_types_facets_and_pages(stack: Api) -> None:
    owner = await person(stack, "Owner")
    key = word()
    for n in range(3):
        await party(stack, owner, f"{key} party {n}")
    await public_video(stack, owner, f"{key} clip")
    await indexed(stack)

    everything = await search(stack, key, first=2)
    assert everything["totalCount"] == 4
    assert facet(everything, "type") == {"PARTY": 3, "VIDEO": 1, "USER": 0}
    assert facet(everything, "partyStatus") == {"LIVE": 3}
    assert facet(everything, "provider") == {"MP4": 1}
    assert facet(everything, "durationRange") == {"UNKNOWN": 1}
    assert len(everything["edges"]) == 2
    assert everything["pageInfo"]["hasNextPage"] is True

    seen = titles(everything)
    after = everything["pageInfo"]["endCursor"]
    while after is not None:
        page = await search(stack, key, first=2, after=after)
        seen += titles(page)
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert sorted(seen) == sorted([f"{key} party {n}" for n in range(3)] + [f"{key} clip"])

    videos = await search(stack, key, types=["VIDEO"])
    assert titles(videos) == [f"{key} clip"]
    mp4 = await search(stack, key, filters={"provider": ["MP4"]})
    assert titles(mp4) == [f"{key} clip"]
    newest = await search(stack, key, types=["PARTY"], sort="NEWEST")
    assert titles(newest) == [f"{key} party {n}" for n in (2, 1, 0)]

    bad = await stack.gql(
        'query($a: String) { search(query: "x", after: $a) { totalCount } }', {"a": "nope"}
    )
    assert bad.body["errors"][0]["extensions"]["code"] == "VALIDATION"
    deep = await stack.gql(
        'query { search(query: "x", first: 50, after: "WyJzZWFyY2giLDQ4MF0") { totalCount } }'
    )
    assert deep.body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_visibility(stack: Api) -> None:
    host, member, banned, stranger = [await person(stack, n) for n in ("H", "M", "B", "S")]
    key = word()
    private = await party(stack, host, f"{key} secret", visibility="PRIVATE")
    await party(stack, host, f"{key} unlisted", visibility="UNLISTED")
    public = await party(stack, host, f"{key} open")
    for who in (member, banned):
        await joined(stack, who, code=private["code"])
    ban = await mutate(stack, "banMember", host.token, partyId=private["id"], userId=banned.id)
    assert ban["__typename"] == "PartyMemberPayload", ban
    own_video = await public_video(stack, stranger, f"{key} home movie", visibility="PRIVATE")
    await indexed(stack)

    assert sorted(titles(await search(stack, key, member.token))) == [
        f"{key} open",
        f"{key} secret",
    ]
    assert titles(await search(stack, key, banned.token)) == [f"{key} open"]
    assert titles(await search(stack, key)) == [f"{key} open"]  # anonymous
    assert sorted(titles(await search(stack, key, stranger.token))) == [
        f"{key} home movie",
        f"{key} open",
    ]
    assert titles(await search(stack, key, host.token, types=["VIDEO"])) == []

    deleted = await mutate(stack, "deleteParty", host.token, partyId=public["id"])
    assert deleted["__typename"] == "DeletePartyPayload", deleted
    gone = await video_mutate(stack, "deleteVideo", stranger.token, id=own_video)
    assert gone["__typename"] == "DeleteVideoPayload", gone
    await indexed(stack)  # one indexing cycle
    assert sorted(titles(await search(stack, key, member.token))) == [f"{key} secret"]
    assert titles(await search(stack, key, stranger.token)) == []


async def test_opting_out_of_search(stack: Api) -> None:
    key = word()
    someone = await person(stack, f"{key.capitalize()} Person")
    await indexed(stack)
    assert titles(await search(stack, key, types=["USER"])) == [f"{key.capitalize()} Person"]

    result = await stack.gql(
        """mutation { updateProfile(input: {searchable: false}) {
            ... on UpdateProfilePayload { user { searchable } } } }""",
        token=someone.token,
    )
    assert result.data["updateProfile"]["user"]["searchable"] is False
    await indexed(stack)
    assert titles(await search(stack, key, types=["USER"])) == []
    if stack.settings.typesense_url:  # the document is gone too, not only filtered
        engine_answer = await _typesense_direct(
            stack, stack.settings.typesense_api_key, "users", key
        )
        assert engine_answer["found"] == 0


async def test_suggestions_and_discovery(stack: Api) -> None:
    host = await person(stack, "Host")
    key = word()
    await party(stack, host, f"{key} marathon")
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await party(stack, host, f"{key} premiere", scheduledStart=soon)
    live = await party(stack, host, f"{key} live now")  # no scheduled start: LIVE at once
    # Two more live parties, nobody online, no chat: the older one has reactions, so it ranks
    # above the newer one (without them, the newer would come first).
    lively = await party(stack, host, f"{key} lively")
    quiet = await party(stack, host, f"{key} quiet")
    for _ in range(2):
        reacted = await stack.gql(
            "mutation($input: SendReactionInput!) { sendReaction(input: $input) { __typename } }",
            {
                "input": {
                    "partyId": lively["id"],
                    "emoji": "😂",
                    "videoPositionSeconds": 1.0,
                    "x": 0.5,
                    "y": 0.5,
                }
            },
            token=host.token,
        )
        assert reacted.data["sendReaction"]["__typename"] == "SendReactionPayload", reacted.body
    await server_events(stack, "reaction.send", party_id=lively["id"], count=2)
    await indexed(stack)

    got = await stack.gql(
        "query($p: String!) { searchSuggestions(prefix: $p) trendingParties(first: 50) { id } "
        "upcomingParties(first: 50) { id title } }",
        {"p": key[:6]},
    )
    data = got.data
    assert sorted(data["searchSuggestions"]) == sorted(
        [f"{key} marathon", f"{key} premiere", f"{key} live now", f"{key} lively", f"{key} quiet"]
    )
    trending = [p["id"] for p in data["trendingParties"]]
    assert live["id"] in trending
    assert trending.index(lively["id"]) < trending.index(quiet["id"])
    assert f"{key} premiere" in [p["title"] for p in data["upcomingParties"]]


async def _typesense_direct(api: Api, key: str, collection: str, q: str) -> dict[str, Any]:
    prefix = api.settings.typesense_collection_prefix
    query_by = {"parties": "title", "users": "display_name", "videos": "title"}[collection]
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{api.settings.typesense_url}/collections/{prefix}{collection}/documents/search",
            params={"q": q, "query_by": query_by},
            headers={"X-TYPESENSE-API-KEY": key},
        )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_scoped_key_reads_only_what_the_viewer_may_see(api_typesense: Api) -> None:
    api = api_typesense
    host, stranger = await person(api, "Host"), await person(api, "Stranger")
    key = word()
    await party(api, host, f"{key} private", visibility="PRIVATE")
    await indexed(api)
    keys = {}
    for who in (host, stranger):
        got = await api.gql(
            "{ searchKey { key url expiresAt collections { parties videos users } } }",
            token=who.token,
        )
        keys[who.name] = got.data["searchKey"]
    assert keys["Host"]["collections"]["parties"] == (
        f"{api.settings.typesense_collection_prefix}parties"
    )
    found = await _typesense_direct(api, keys["Host"]["key"], "parties", key)
    assert [h["document"]["title"] for h in found["hits"]] == [f"{key} private"]
    nothing = await _typesense_direct(api, keys["Stranger"]["key"], "parties", key)
    assert nothing["found"] == 0
    # the embedded filter cannot be widened by the client's own filter
    async with httpx.AsyncClient() as client:
        widened = await client.get(
            f"{api.settings.typesense_url}/collections/"
            f"{api.settings.typesense_collection_prefix}parties/documents/search",
            params={"q": key, "query_by": "title", "filter_by": "visibility:=PRIVATE"},
            headers={"X-TYPESENSE-API-KEY": keys["Stranger"]["key"]},
        )
        assert widened.json()["found"] == 0
        # and it is search-only
        listing = await client.get(
            f"{api.settings.typesense_url}/collections",
            headers={"X-TYPESENSE-API-KEY": keys["Stranger"]["key"]},
        )
        assert listing.status_code == 401


async def test_reindex_swaps_the_alias(
    api_typesense: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = api_typesense
    host = await person(api, "Host")
    key = word()
    await party(api, host, f"{key} kept")
    await indexed(api)
    for name, value in {
        "DATABASE_URL": api.settings.database_url,
        "REDIS_URL": "",
        "TYPESENSE_URL": api.settings.typesense_url,
        "TYPESENSE_API_KEY": api.settings.typesense_api_key,
        "TYPESENSE_COLLECTION_PREFIX": api.settings.typesense_collection_prefix,
        "APP_ENV": "test",
        "AUTO_MIGRATE": "false",
    }.items():
        monkeypatch.setenv(name, value)

    during = asyncio.create_task(asyncio.to_thread(main, ["search", "reindex"]))
    while not during.done():  # searches keep answering from the old collections
        assert titles(await search(api, key)) == [f"{key} kept"]
        await asyncio.sleep(0.05)
    assert await during == 0
    out = capsys.readouterr().out
    prefix = api.settings.typesense_collection_prefix
    assert f"{prefix}parties -> {prefix}parties_v1_" in out
    assert titles(await search(api, key)) == [f"{key} kept"]

    assert await asyncio.to_thread(main, ["search", "status"]) == 0
    status = capsys.readouterr().out
    assert '"healthy": true' in status
    assert '"outbox_depth": 0' in status


async def test_bulk_update_naming_its_row_is_indexed(api_typesense: Api) -> None:
    """A domain's bulk `UPDATE ... WHERE id = :id` (the video processing lease writes so) is
    caught by the outbox listener like an ORM change."""
    from sqlalchemy import update

    from watchparty.videos.models import Video

    api = api_typesense
    owner = await person(api, "Owner")
    before, after = word(), word()
    video_id = await public_video(api, owner, f"{before} cut")
    await indexed(api)
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(Video)
            .where(Video.id == uuid.UUID(video_id))
            .values(title=f"{after} cut")
            .execution_options(synchronize_session=False)
        )
    await indexed(api)
    assert titles(await search(api, after)) == [f"{after} cut"]
    assert titles(await search(api, before)) == []


async def test_online_counts_follow_presence_coalesced(api_typesense: Api) -> None:
    """Heartbeats write nothing; the sweep sends a party's online count once per change."""
    from watchparty.parties.presence import get_presence
    from watchparty.search.engine import engine_of
    from watchparty.search.indexing import refresh_online_counts, status

    api = api_typesense
    host = await person(api, "Host")
    live = await party(api, host, f"{word()} live")
    await indexed(api)
    engine = engine_of(api.state)
    assert engine is not None
    presence = get_presence(api.state)
    party_id, user_id = uuid.UUID(live["id"]), uuid.UUID(host.id)

    async def online_count() -> int:
        collection = f"{api.settings.typesense_collection_prefix}parties"
        doc = await engine.call(
            engine.client.collections[collection].documents[live["id"]].retrieve
        )
        return int(doc["online_count"])

    await presence.connect(party_id, user_id, "c1")
    for _ in range(5):
        await presence.heartbeat(party_id, user_id, "c1")
    assert (await status(api.state))["outbox_depth"] == 0  # heartbeats reindex nothing
    await refresh_online_counts(api.state, engine)
    assert await online_count() == 1
    assert await refresh_online_counts(api.state, engine) == 0  # unchanged: nothing sent
    await presence.disconnect(party_id, user_id, "c1")
    assert await refresh_online_counts(api.state, engine) >= 1
    assert await online_count() == 0


async def test_deleted_account_leaves_the_index_with_its_videos_and_parties(
    api_typesense: Api,
) -> None:
    from tests.support import PASSWORD

    api = api_typesense
    key = word()
    gone = await person(api, f"{key.capitalize()} Gone")
    await public_video(api, gone, f"{key} video")
    await party(api, gone, f"{key} party")
    await indexed(api)
    assert len((await search(api, key))["edges"]) == 3

    deleted = await api.gql(
        "mutation($p: String) { deleteAccount(input: {password: $p}) { __typename } }",
        {"p": PASSWORD},
        token=gone.token,
    )
    assert deleted.data["deleteAccount"]["__typename"] == "DeleteAccountPayload", deleted.body
    await indexed(api)
    admin = api.settings.typesense_api_key
    for collection in ("users", "videos", "parties"):
        assert (await _typesense_direct(api, admin, collection, key))["found"] == 0, collection
    assert (await search(api, key))["edges"] == []
