"""Fixed lists of malformed requests for the fuzzer (tests/fuzz.py): GraphQL over HTTP, the REST
shim and graphql-transport-ws. Each entry is (label, method, target, extra headers, body) for
HTTP, or (label, frames, expectation) for the WebSocket, where the frame "INIT" stands for the
caller's connection_init and "PARTY" for the world's party id. Expectations: "close" (the server
must close with a code), "error" (an `error` message or a 4400 close, never a bare `complete`),
"any" (whatever it answers, the oracle's general rules hold)."""

from __future__ import annotations

import json
from typing import Any

OK = "{ __typename }"
ME = "{ me { id } }"
SERVER_TIME = "query($t: Float!) { serverTime(clientTimeMs: $t) { clientTimeMs } }"
PARTY_EVENTS = "subscription($p: ID!) { partyEvents(partyId: $p) { cursor } }"
DEEP = 100_000

HttpEntry = tuple[str, str, str, dict[str, str], bytes]
WSEntry = tuple[str, list[str | bytes], str]  # expectation: "close", "error" or "any"


def body(**fields: Any) -> bytes:
    """A GraphQL request body; Python's JSON keeps NaN tokens and escapes lone surrogates."""
    return json.dumps(fields).encode()


def ctype(value: str) -> dict[str, str]:
    return {"content-type": value}


def graphql_http() -> list[HttpEntry]:
    login = 'mutation { login(input: {email: "a@b.c", password: "x"}) { __typename } }'
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    multipart = b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--x--\r\n'
    deep_variables = b"[" * 20_000 + b"]" * 20_000
    nan = b'{"query": "%s", "variables": {"t": NaN}}' % SERVER_TIME.encode()
    infinity = b'{"query": "%s", "variables": {"t": -Infinity}}' % SERVER_TIME.encode()
    post = "POST"
    get = "GET"
    return [
        ("bad json", post, "", {}, b"{"),
        ("truncated json", post, "", {}, b'{"query": "{ __typename }"'),
        ("not utf-8", post, "", {}, b'{"query": "\xff\xfe"}'),
        ("empty body", post, "", {}, b""),
        ("json null", post, "", {}, b"null"),
        ("json string", post, "", {}, b'"{ __typename }"'),
        ("json number", post, "", {}, b"12"),
        ("batch", post, "", {}, json.dumps([{"query": OK}, {"query": OK}]).encode()),
        ("empty batch", post, "", {}, b"[]"),
        ("query not a string", post, "", {}, b'{"query": 1}'),
        ("query an object", post, "", {}, b'{"query": {"a": 1}}'),
        ("variables a string", post, "", {}, body(query=OK, variables="{}")),
        ("variables a list", post, "", {}, body(query=OK, variables=[1])),
        ("operationName a list", post, "", {}, body(query=OK, operationName=["a"])),
        ("unknown operationName", post, "", {}, body(query=OK, operationName="Nope")),
        ("two anonymous operations", post, "", {}, body(query=OK + " " + OK)),
        ("extensions a string", post, "", {}, body(query=OK, extensions="x")),
        ("persisted query only", post, "", {}, body(extensions=persisted)),
        ("no query", post, "", {}, b"{}"),
        ("empty query", post, "", {}, b'{"query": ""}'),
        ("NUL in query", post, "", {}, body(query="{ __typename \x00 }")),
        ("surrogate in query", post, "", {}, body(query='{ partyByCode(code: "\ud800") { id } }')),
        ("syntax error", post, "", {}, body(query="{ __typename")),
        ("deep json object", post, "", {}, b'{"a":' * DEEP + b"1" + b"}" * DEEP),
        ("deep json array", post, "", {}, b"[" * DEEP + b"]" * DEEP),
        (
            "deep json variables",
            post,
            "",
            {},
            b'{"query": "{ __typename }", "variables": {"v": ' + deep_variables + b"}}",
        ),
        (
            "deep list literal",
            post,
            "",
            {},
            body(query="{ partyByCode(code: " + "[" * 3000 + "]" * 3000 + ") { id } }"),
        ),
        ("deep selection", post, "", {}, body(query="{ me " + "{ __typename " * 500 + "}" * 501)),
        (
            "huge string variable",
            post,
            "",
            {},
            body(
                query="query($c: String!) { partyByCode(code: $c) { id } }",
                variables={"c": "x" * 900_000},
            ),
        ),
        ("over the body limit", post, "", {}, b" " * 1_100_000),
        (
            "huge int literal",
            post,
            "",
            {},
            body(query="{ publicParties(first: 99999999999999999999999) { totalCount } }"),
        ),
        (
            "huge float literal",
            post,
            "",
            {},
            body(query="{ serverTime(clientTimeMs: 1e999) { clientTimeMs serverSentMs } }"),
        ),
        ("NaN variable", post, "", {}, nan),
        ("Infinity variable", post, "", {}, infinity),
        ("text/plain", post, "", ctype("text/plain"), body(query=OK)),
        ("form encoded", post, "", ctype("application/x-www-form-urlencoded"), b"query=%7B%7D"),
        ("multipart", post, "", ctype("multipart/form-data; boundary=x"), multipart),
        ("application/graphql", post, "", ctype("application/graphql"), OK.encode()),
        ("no content type", post, "", ctype(""), body(query=OK)),
        ("json latin-1", post, "", ctype("application/json; charset=latin-1"), body(query=OK)),
        (
            "odd accept",
            post,
            "",
            {"accept": "application/graphql-response+json;q=abc, */*;q=x"},
            body(query=OK),
        ),
        ("garbage bearer", post, "", {"authorization": "Bearer \x7f\x01garbage"}, body(query=ME)),
        ("non-bearer auth", post, "", {"authorization": "Basic Zm9vOmJhcg=="}, body(query=ME)),
        ("huge bearer", post, "", {"authorization": "Bearer " + "a." * 4000}, body(query=ME)),
        ("GET mutation", get, "?query=" + login.replace(" ", "%20"), {}, b""),
        (
            "GET subscription",
            get,
            "?query=subscription%7BpartyEvents(partyId:%221%22)%7Bcursor%7D%7D",
            {},
            b"",
        ),
        ("GET bad variables", get, "?query=%7B__typename%7D&variables=%7Bbad", {}, b""),
        ("GET variables list", get, "?query=%7B__typename%7D&variables=%5B1%5D", {}, b""),
        ("GET no query", get, "", {"accept": "application/json"}, b""),
        ("GET NUL", get, "?query=%7B__typename%00%7D", {}, b""),
        ("GET bad percent", get, "?query=%ZZ%ff%fe", {}, b""),
        ("PUT", "PUT", "", {}, body(query=OK)),
        ("DELETE", "DELETE", "", {}, b""),
        ("PATCH", "PATCH", "", {}, body(query=OK)),
        (
            "OPTIONS",
            "OPTIONS",
            "",
            {"origin": "https://evil.example", "access-control-request-method": "POST"},
            b"",
        ),
    ]


def rest(upload: str) -> list[HttpEntry]:
    """The REST shim; `upload` is the path of a real, unfinished upload."""
    refresh = "/auth/refresh"
    github = "/auth/oauth/github"
    google = "/auth/oauth/google"

    def cookie(value: str) -> dict[str, str]:
        return {"cookie": f"wp_refresh={value}"}

    return [
        ("refresh without cookie", "POST", refresh, {}, b""),
        ("refresh garbage cookie", "POST", refresh, cookie("garbage"), b""),
        ("refresh NUL cookie", "POST", refresh, cookie("%00%ff"), b""),
        ("refresh huge cookie", "POST", refresh, cookie("a" * 6000), b""),
        ("refresh dotted cookie", "POST", refresh, cookie("a.b.c.d"), b""),
        ("refresh with a JSON body", "POST", refresh, ctype("application/json"), b'{"a": [1'),
        ("refresh by GET", "GET", refresh, {}, b""),
        ("logout garbage cookie", "POST", "/auth/logout", cookie("x;y=z"), b""),
        ("logout by PUT", "PUT", "/auth/logout", {}, b"x"),
        ("oauth unknown provider", "GET", "/auth/oauth/nope/login", {}, b""),
        ("oauth NUL provider", "GET", "/auth/oauth/%00/login", {}, b""),
        ("oauth next javascript", "GET", f"{github}/login?next=javascript:alert(1)", {}, b""),
        ("oauth next huge", "GET", f"{google}/login?next=/" + "a" * 8000, {}, b""),
        ("oauth next NUL", "GET", f"{github}/login?next=/%00x", {}, b""),
        ("oauth next bad utf-8", "GET", f"{github}/login?next=/%ED%A0%80%ff", {}, b""),
        ("oauth next scheme-relative", "GET", f"{github}/login?next=//evil.example/x", {}, b""),
        ("oauth callback no params", "GET", f"{github}/callback", {}, b""),
        ("oauth callback garbage state", "GET", f"{github}/callback?code=x&state=junk", {}, b""),
        ("oauth callback NUL state", "GET", f"{google}/callback?code=%00&state=%00%ff", {}, b""),
        ("oauth callback error", "GET", f"{google}/callback?error=access_denied&state=x", {}, b""),
        (
            "oauth callback repeated",
            "GET",
            f"{github}/callback?code=a&code=b&state=a&state=b",
            {},
            b"",
        ),
        ("upload unknown token", "PUT", "/uploads/garbage", ctype("video/mp4"), b"x" * 10),
        ("upload NUL token", "HEAD", "/uploads/%00%ff", {}, b""),
        ("upload offset not a number", "PUT", upload, {"upload-offset": "abc"}, b"x"),
        ("upload offset negative", "PUT", upload, {"upload-offset": "-1"}, b"x"),
        ("upload offset huge", "PUT", upload, {"upload-offset": "9" * 40}, b"x"),
        ("upload offset float", "PUT", upload, {"upload-offset": "1e308"}, b"x"),
        ("upload range garbage", "PUT", upload, {"content-range": "bytes x-y/z"}, b"x"),
        ("upload range reversed", "PUT", upload, {"content-range": "bytes 5-1/1000"}, b"x"),
        (
            "upload range huge",
            "PUT",
            upload,
            {"content-range": f"bytes 0-{10**30}/{10**30}"},
            b"x",
        ),
        ("upload range star", "PUT", upload, {"content-range": "bytes */1000"}, b""),
        ("upload too much", "PUT", upload, {}, b"x" * 5000),
        ("upload HEAD", "HEAD", upload, {}, b""),
        ("upload by POST", "POST", upload, {}, b"x"),
        ("media unknown token", "GET", "/media/garbage/video.m3u8", {}, b""),
        ("media traversal", "GET", "/media/garbage/..%2f..%2fetc%2fpasswd", {}, b""),
        ("media range garbage", "GET", "/media/garbage/x.ts", {"range": "bytes=abc"}, b""),
        ("media NUL path", "HEAD", "/media/%00/%00", {}, b""),
        ("healthz", "GET", "/healthz", {}, b""),
        ("readyz", "GET", "/readyz?verbose=%00", {}, b""),
    ]


def subscribe(payload: Any, op_id: Any = "1") -> str:
    return json.dumps({"id": op_id, "type": "subscribe", "payload": payload})


def message(**fields: Any) -> str:
    return json.dumps(fields)


def websocket() -> list[WSEntry]:
    ok = {"query": OK}
    nan = '{"id": "1", "type": "subscribe", "payload": {"query": "%s", "variables": {"t": NaN}}}'
    deep_payload = (
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }", "variables": '
        '{"v": ' + "[" * DEEP + "]" * DEEP + "}}}"
    )
    bad_token = {"authorization": "Bearer \x00\ud800"}
    create = 'mutation { createParty(input: {title: "\\u0000"}) { __typename } }'
    return [
        ("not json", ["{"], "close"),
        ("binary frame", [b"\x00\x01\x02"], "close"),
        ("json array", ["[]"], "close"),
        ("json null", ["null"], "close"),
        ("type a number", [message(type=5)], "close"),
        ("unknown type", [message(type="nope")], "close"),
        ("subscribe before init", [subscribe(ok)], "close"),
        ("init payload a string", [message(type="connection_init", payload="x")], "close"),
        (
            "init authorization a number",
            [message(type="connection_init", payload={"authorization": 5})],
            "close",
        ),
        (
            "init authorization garbage",
            [message(type="connection_init", payload=bad_token)],
            "close",
        ),
        ("double init", ["INIT", "INIT"], "close"),
        ("subscribe without id", ["INIT", message(type="subscribe", payload=ok)], "close"),
        ("id a number", ["INIT", subscribe(ok, 1)], "close"),
        ("payload a string", ["INIT", subscribe(OK)], "close"),
        ("payload null", ["INIT", subscribe(None)], "close"),
        ("query a number", ["INIT", subscribe({"query": 5})], "any"),
        ("variables a list", ["INIT", subscribe({**ok, "variables": [1]})], "any"),
        ("variables a string", ["INIT", subscribe({**ok, "variables": "x"})], "any"),
        ("extensions a list", ["INIT", subscribe({**ok, "extensions": [1]})], "any"),
        ("syntax error", ["INIT", subscribe({"query": "{"})], "error"),
        ("NUL in query", ["INIT", subscribe({"query": "{ __typename \x00 }"})], "error"),
        (
            "too many tokens",
            ["INIT", subscribe({"query": "{ " + "__typename " * 3000 + "}"})],
            "error",
        ),
        ("unknown field", ["INIT", subscribe({"query": "subscription { nope }"})], "error"),
        ("missing variable", ["INIT", subscribe({"query": PARTY_EVENTS})], "error"),
        ("NaN variable", ["INIT", nan % SERVER_TIME], "any"),
        (
            "surrogate variable",
            ["INIT", subscribe({"query": PARTY_EVENTS, "variables": {"p": "\ud800"}})],
            "any",
        ),
        (
            "duplicate id",
            [
                "INIT",
                subscribe({"query": PARTY_EVENTS, "variables": {"p": "PARTY"}}),
                subscribe(ok),
            ],
            "close",
        ),
        ("complete unknown id", ["INIT", message(id="nope", type="complete")], "any"),
        ("ping with payload", ["INIT", message(type="ping", payload={"a": [1]})], "any"),
        ("pong a string", ["INIT", message(type="pong", payload="x")], "any"),
        ("deep json", ["INIT", '{"a":' * DEEP + "1" + "}" * DEEP], "close"),
        ("deep json payload", ["INIT", deep_payload], "close"),
        ("huge frame", ["INIT", subscribe({**ok, "variables": {"x": "y" * 900_000}})], "any"),
        ("mutation over ws", ["INIT", subscribe({"query": create})], "any"),
    ]
