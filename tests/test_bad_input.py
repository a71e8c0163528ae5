"""Bad input never becomes an internal error: variables that do not fit their type, text with
NUL or lone surrogates, absurd numbers, JSON nested too deeply, malformed socket messages, and
(in production) no name suggestions. Through HTTP and the WebSocket, on PostgreSQL."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets
from sqlalchemy import update

from tests.playback_ops import Party, control, create_party, now_ms, report
from tests.support import (
    Api,
    graphql_socket,
    live_server,
    make_settings,
    running_app,
)
from watchparty.parties.models import PartyMember

MODERN = {"accept": "application/graphql-response+json", "content-type": "application/json"}
CREATE = "mutation($i: CreatePartyInput!) { createParty(input: $i) { __typename } }"
SERVER_TIME = "query($t: Float!) { serverTime(clientTimeMs: $t) { clientTimeMs } }"
CONTROL = "Control characters are not allowed."
SURROGATE = "Text must be valid Unicode (an unpaired surrogate is not)."
DATETIME = "Value cannot represent a DateTime. Expected an ISO 8601 date and time, such as "
DATETIME += "2026-01-31T20:00:00Z."
NO_URL_ITEM = {"url": "https://videos.example.com/live.m3u8", "title": "Live"}


@pytest.fixture(autouse=True)
def error_logs() -> Iterator[list[logging.LogRecord]]:
    """Client mistakes are no operator's problem: nothing at ERROR while a test runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("watchparty", "strawberry", "uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)
    assert [record.getMessage() for record in records] == []


@pytest.fixture(scope="module")
async def url(api: Api) -> AsyncIterator[str]:
    async with live_server(api.app) as base:
        yield base


async def post(api: Api, body: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    content = body if isinstance(body, str) else json.dumps(body)
    response = await api.client.post("/graphql", content=content, headers=MODERN)
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    return response.status_code, response.json()


# --- 10: variable coercion errors are request errors, not internal ones ------------------------


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (CREATE, {}, "Variable '$i' has invalid value: Expected a value of non-null type "),
        (
            CREATE,
            {"i": {"title": "x", "visibility": "NOPE"}},
            "Variable '$i' has invalid value at .visibility: Value 'NOPE' does not exist in ",
        ),
        (
            CREATE,
            {"i": {"title": "x", "maxMembers": 2.5}},
            "Variable '$i' has invalid value at .maxMembers: Int cannot represent non-integer ",
        ),
        (
            CREATE,
            {"i": {"title": "x", "scheduledStart": "garbage"}},
            f"Variable '$i' has invalid value at .scheduledStart: {DATETIME}",
        ),
        (SERVER_TIME, {"t": "abc"}, "Variable '$t' has invalid value: Float cannot represent "),
        (SERVER_TIME, {"t": float("inf")}, "Variable '$t' has invalid value: Float cannot "),
        (
            "query($s: Boolean!) { serverTime(clientTimeMs: 1) @skip(if: $s) { clientTimeMs } }",
            {},
            "Variable '$s' has invalid value: Expected a value of non-null type 'Boolean!' ",
        ),
    ],
    ids=["missing", "enum", "int", "datetime", "float", "infinity", "skip"],
)
async def test_variables_that_do_not_fit_are_400(
    api: Api, query: str, variables: dict[str, Any], message: str
) -> None:
    status, body = await post(api, {"query": query, "variables": variables})
    assert status == 400, body
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"].startswith(message), error
    assert error["extensions"] == {"code": "VALIDATION"}


async def test_inline_datetime_says_what_it_expects(api: Api) -> None:
    query = (
        'mutation { createParty(input: {title: "x", scheduledStart: "garbage"}) { __typename } }'
    )
    status, body = await post(api, {"query": query})
    assert status == 400
    assert [error["message"] for error in body["errors"]] == [DATETIME]


# --- 11: NUL, control characters and lone surrogates ------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [("a\u0000b", CONTROL), ("\ud800", SURROGATE), ("bell\u0007", CONTROL)],
    ids=["nul", "surrogate", "bel"],
)
@pytest.mark.parametrize(
    ("mutation", "input_type", "make_input", "field"),
    [
        ("createParty", "CreatePartyInput", lambda p, s: {"title": s}, "title"),
        (
            "createParty",
            "CreatePartyInput",
            lambda p, s: {
                "title": "t",
                "media": {"url": "https://v.example.com/a.mp4", "title": s},
            },
            "media.title",
        ),
        ("sendMessage", "SendMessageInput", lambda p, s: {"partyId": p, "body": s}, "body"),
        (
            "createPoll",
            "CreatePollInput",
            lambda p, s: {"partyId": p, "question": "Q?", "options": ["a", s]},
            "options",
        ),
        ("updateProfile", "UpdateProfileInput", lambda p, s: {"displayName": s}, "displayName"),
        ("seek", "SeekInput", lambda p, s: {"partyId": s, "positionSeconds": 1}, "partyId"),
    ],
    ids=["title", "media", "chat", "poll", "profile", "id"],
)
async def test_bad_text_is_a_validation_error(
    api: Api,
    party: Party,
    bad: str,
    message: str,
    mutation: str,
    input_type: str,
    make_input: Any,
    field: str,
) -> None:
    result = await api.gql(
        f"""mutation($input: {input_type}!) {{ {mutation}(input: $input) {{
            __typename ... on UserError {{ code message field }} }} }}""",
        {"input": make_input(party.id, bad)},
        token=party.host.token,
    )
    assert result.status == 200
    assert result.data[mutation] == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": message,
        "field": field,
    }


@pytest.fixture(scope="module")
async def party(api: Api) -> Party:
    return await create_party(api, media=NO_URL_ITEM)


async def test_bad_text_in_a_literal_or_a_query_argument(api: Api, party: Party) -> None:
    literal = 'mutation { createParty(input: {title: "a\\u0000"}) { ... on UserError { field } } }'
    result = await api.gql(literal, token=party.host.token)
    assert result.data == {"createParty": {"field": "title"}}
    status, body = await post(api, {"query": 'query { party(id: "\\ud800") { id } }'})
    assert status == 400  # GraphQL's own lexer refuses a lone surrogate escape
    assert body["errors"][0]["message"].startswith("Syntax Error: Invalid Unicode escape")
    query = "query($id: ID!) { party(id: $id) { id } }"
    status, body = await post(api, {"query": query, "variables": {"id": "\ud800"}})
    assert status == 200
    assert body["data"] == {"party": None}
    assert body["errors"] == [
        {
            "message": SURROGATE,
            "locations": [{"line": 1, "column": 19}],
            "path": ["party"],
            "extensions": {"code": "VALIDATION", "field": "id"},
        }
    ]


async def test_bad_text_over_the_socket(api: Api, party: Party, url: str) -> None:
    async with graphql_socket(url) as socket:
        await socket.init({"authorization": f"Bearer {party.host.token}"})
        answer, _ = await socket.execute(
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) "
            "{ ... on UserError { code field } } }",
            {"input": {"partyId": party.id, "body": "hi\u0000"}},
        )
        assert answer["payload"] == {
            "data": {"sendMessage": {"code": "VALIDATION", "field": "body"}}
        }
        stream = await socket.execute(
            "subscription($id: ID!) { partyEvents(partyId: $id) { __typename } }", {"id": "\u0000"}
        )
        assert [m["type"] for m in stream] == ["error"]
        [error] = stream[0]["payload"]
        assert (error["message"], error["path"]) == (CONTROL, ["partyEvents"])
        assert error["extensions"] == {"code": "VALIDATION", "field": "partyId"}


# --- 12: absurd numbers -------------------------------------------------------------------------


async def test_absurd_positions_and_times_are_refused(api: Api, party: Party) -> None:
    token = party.host.token
    far = await control(api, "seek", party.id, token, positionSeconds=1e308)
    assert far == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": "The position must be at most 604800 seconds.",
        "field": "positionSeconds",
    }
    reported = await report(api, party.id, token, "PLAYING", 1e308)
    assert (reported["__typename"], reported["field"]) == ("ValidationError", "positionSeconds")
    assert reported["message"] == "The position must be 0 to 604800 seconds."
    for client_time in (0.0, now_ms() + 2 * 86_400_000, 1e308):
        stale = await report(api, party.id, token, "PLAYING", 1.0, clientTimeMs=client_time)
        assert (stale["__typename"], stale["field"]) == ("ValidationError", "clientTimeMs")
    fine = await report(api, party.id, token, "PAUSED", 1.0)
    assert fine["__typename"] == "ReportPlayerStatePayload", fine


async def test_an_infinite_inline_literal_is_refused(api: Api, party: Party) -> None:
    """JSON cannot carry infinity, but an inline literal can: `1e999` parses as inf."""
    status, body = await post(
        api, {"query": "{ serverTime(clientTimeMs: 1e999) { clientTimeMs } }"}
    )
    assert status == 200
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Numbers must be finite.",
                "locations": [{"line": 1, "column": 3}],
                "path": ["serverTime"],
                "extensions": {"code": "VALIDATION", "field": "clientTimeMs"},
            }
        ],
    }
    seek = (
        f'mutation {{ seek(input: {{partyId: "{party.id}", positionSeconds: -1e999}}) '
        "{ __typename ... on UserError { code message field } } }"
    )
    result = await api.gql(seek, token=party.host.token)
    assert result.data == {
        "seek": {
            "__typename": "ValidationError",
            "code": "VALIDATION",
            "message": "Numbers must be finite.",
            "field": "positionSeconds",
        }
    }


async def test_a_stored_infinite_drift_reads_as_unknown(api: Api, party: Party) -> None:
    async with api.state.sessionmaker() as session:
        await session.execute(
            update(PartyMember)
            .where(PartyMember.user_id == uuid.UUID(party.host.id))
            .values(last_drift_ms=float("inf"))
        )
        await session.commit()
    result = await api.gql(
        "query($id: ID!) { party(id: $id) { members { edges { node { lastDriftMs } } } } }",
        {"id": party.id},
        token=party.host.token,
    )
    assert result.body == {
        "data": {"party": {"members": {"edges": [{"node": {"lastDriftMs": None}}]}}}
    }


# --- 13: JSON and documents nested too deeply, malformed socket messages -----------------------


async def test_deeply_nested_json_is_400(api: Api) -> None:
    status, body = await post(api, '{"a":' * 100_000)
    assert (status, body) == (
        400,
        {"errors": [{"message": "Unable to parse the request as JSON."}]},
    )


@pytest.mark.parametrize(
    "document",
    ["query { a" * 10_000, "{ serverTime(clientTimeMs: " + "[" * 10_000],
    ids=["selections", "list-literal"],
)
async def test_deeply_nested_documents_are_400(api: Api, document: str) -> None:
    status, body = await post(api, {"query": document})
    assert status == 400
    [error] = body["errors"]
    assert error["message"] == "Syntax Error: Document is nested too deeply. Parsing aborted."


@pytest.mark.parametrize(
    "frame",
    [
        '{"a":' * 100_000,
        json.dumps({"id": "1", "type": "subscribe", "payload": "{ serverTime }"}),
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "{ me { id } }", "variables": [1]},
            }
        ),
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": 7}}),
        json.dumps({"id": ["1"], "type": "complete"}),
        json.dumps([1]),
    ],
    ids=["nested", "string-payload", "list-variables", "number-query", "list-id", "not-an-object"],
)
async def test_malformed_socket_messages_close_with_4400(url: str, frame: str) -> None:
    async with graphql_socket(url) as socket:
        await socket.init()
        await socket.connection.send(frame)
        assert await socket.close_code() == 4400


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("{", "Syntax Error: Expected Name, found <EOF>."),
        ("{ __typename \x00 }", "Syntax Error: Unexpected character: U+0000."),
    ],
    ids=["unfinished", "nul"],
)
async def test_a_document_that_does_not_parse_closes_the_socket_with_4400(
    url: str, query: str, reason: str
) -> None:
    """Not a bare `complete` (the parser cache used to raise past Strawberry's handling)."""
    async with graphql_socket(url) as socket:
        await socket.init()
        await socket.subscribe(query)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.receive()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4400, reason)


async def test_a_coercion_error_over_the_socket_is_an_error_message(url: str) -> None:
    async with graphql_socket(url) as socket:
        await socket.init()
        answer, complete = await socket.execute(SERVER_TIME, {"t": "abc"})
        assert answer["payload"] == {
            "data": None,
            "errors": [
                {
                    "message": "Variable '$t' has invalid value: Float cannot represent non "
                    "numeric value: 'abc'",
                    "locations": [{"line": 1, "column": 7}],
                    "extensions": {"code": "VALIDATION"},
                }
            ],
        }
        assert complete["type"] == "complete"
        assert (await socket.execute("{ serverTime(clientTimeMs: 1) { clientTimeMs } }"))[0][
            "payload"
        ] == {"data": {"serverTime": {"clientTimeMs": 1.0}}}


# --- 14: no name suggestions where introspection is off ----------------------------------------


@pytest.fixture(scope="module")
async def production(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path_factory.mktemp("production"),
        app_env="production",
        jwt_keys="k1:" + "s" * 40,
        jwt_active_kid="k1",
        public_url="https://watch.example.com",
    )
    async with running_app(settings, worker=False) as client:
        yield client


@pytest.mark.parametrize(
    ("query", "variables", "messages"),
    [
        ("{ partee { id } }", {}, ["Cannot query field 'partee' on type 'Query'."]),
        (
            CREATE,
            {"i": {"titel": "x"}},
            [
                "Variable '$i' has invalid value: Expected value of type 'CreatePartyInput' to "
                "include required field 'title', found: {'titel': 'x'}.",
                "Variable '$i' has invalid value: Expected value of type 'CreatePartyInput' not "
                "to include unknown field 'titel'. Found: {'titel': 'x'}.",
            ],
        ),
    ],
    ids=["field", "input-field"],
)
async def test_production_suggests_no_names(
    production: Api, api: Api, query: str, variables: dict[str, Any], messages: list[str]
) -> None:
    _, body = await post(production, {"query": query, "variables": variables})
    assert [error["message"] for error in body["errors"]] == messages
    _, development = await post(api, {"query": query, "variables": variables})
    assert any("Did you mean" in error["message"] for error in development["errors"])
