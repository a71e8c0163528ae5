"""What a newcomer's first queries meet: the cost of a natural query, the queue's page, and a
room code the host can rely on."""

from __future__ import annotations

from typing import Any

from tests.parties_ops import Person, create_party, person
from tests.playback_ops import Party, add_item
from tests.playback_ops import Person as PlaybackPerson
from tests.support import Api

# The query a frontend writes first (issue 9). Before `queue` had a page it cost 10,641 (each
# party's queue counted 100 items) and was refused; now 2,641.
FIRST_LOOK = """query FirstLook {
  myParties {
    edges { node {
      id title code status
      playback { state positionSeconds item { title } }
      queue { id title durationSeconds addedBy { displayName } }
      queueLength
      messages(last: 3) { edges { node { id body author { displayName } } } }
    } }
  }
}"""
QUEUE_PAGE = """query($id: ID!, $n: Int) {
  party(id: $id) { queueLength queue(first: $n) { title } }
}"""
WHOLE_QUEUES = """{ myParties(first: 20) { edges { node {
  queue(first: 500) { id title durationSeconds } } } } }"""


async def _party_with_items(api: Api, count: int) -> tuple[Person, str]:
    host = await person(api, "Host")
    party = await create_party(api, host, visibility="UNLISTED")
    target = Party(party["id"], PlaybackPerson(host.token, host.id), {}, [])
    for n in range(count):
        await add_item(api, target, f"v{n}")
    return host, party["id"]


async def test_a_natural_first_query_fits_the_cost_limit(api: Api) -> None:
    host, party_id = await _party_with_items(api, 3)
    result = await api.gql(FIRST_LOOK, token=host.token)
    assert result.status == 200, result.body
    [edge] = result.data["myParties"]["edges"]
    node = edge["node"]
    assert node["id"] == party_id
    assert [item["title"] for item in node["queue"]] == ["v0", "v1", "v2"]
    assert [item["addedBy"] for item in node["queue"]] == [{"displayName": "Host"}] * 3
    assert node["queueLength"] == 3
    assert node["messages"] == {"edges": []}


async def test_the_queue_is_a_page_bounded_by_the_queue_limit(api: Api) -> None:
    host, party_id = await _party_with_items(api, 3)

    async def page(first: int) -> dict[str, Any]:
        result = await api.gql(QUEUE_PAGE, {"id": party_id, "n": first}, token=host.token)
        return result.body

    assert (await page(2))["data"]["party"] == {
        "queueLength": 3,
        "queue": [{"title": "v0"}, {"title": "v1"}],
    }
    assert (await page(0))["data"]["party"]["queue"] == []
    assert (await page(200))["data"]["party"]["queue"] == [
        {"title": "v0"},
        {"title": "v1"},
        {"title": "v2"},
    ]
    negative = await page(-1)
    assert negative["data"] == {"party": None}
    [error] = negative["errors"]
    assert (error["message"], error["extensions"]["code"]) == (
        "`first` must not be negative.",
        "VALIDATION",
    )
    # A page of parties with whole queues is priced at the queue's real limit (200), not 100.
    whole = await api.gql(WHOLE_QUEUES, token=host.token)
    assert whole.body["errors"][0]["extensions"] == {
        "code": "QUERY_COST_EXCEEDED",
        "cost": 1 + 20 * (1 + 1 + (1 + 200 * 3)),  # myParties, edges, node, queue x 3 fields
        "maxCost": 5000,
    }


async def test_the_host_always_gets_the_code_in_the_payload(api: Api) -> None:
    host = await person(api, "Host")
    result = await api.gql(
        """mutation($input: CreatePartyInput!) { createParty(input: $input) {
            ... on PartyPayload { partyCode party { id code } }
            ... on UserError { code message } } }""",
        {"input": {"title": "Secret", "visibility": "PRIVATE"}},
        token=host.token,
    )
    payload = result.data["createParty"]
    assert len(payload["partyCode"]) == 8
    assert payload["party"]["code"] == payload["partyCode"]
    schema = await api.gql(
        """{ __type(name: "PartyPayload") { fields { name type { kind ofType { name } } } } }"""
    )
    fields = {f["name"]: f["type"] for f in schema.data["__type"]["fields"]}
    assert fields["partyCode"] == {"kind": "NON_NULL", "ofType": {"name": "String"}}
    # Who may read `Party.code` is unchanged: a non-member of an UNLISTED party gets null.
    unlisted = await create_party(api, host, visibility="UNLISTED")
    stranger = await person(api, "Stranger")
    seen = await api.gql(
        "query($id: ID!) { party(id: $id) { code } }", {"id": unlisted["id"]}, token=stranger.token
    )
    assert seen.data["party"] == {"code": None}
