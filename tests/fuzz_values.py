"""Type-directed values, GraphQL literals and random selection sets for the fuzzer."""

from __future__ import annotations

import json
import math
import random
import uuid
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)

from tests.fuzz import Enum, World

# --- values --------------------------------------------------------------------------------

WORDS = ("party", "movie night", "héllo wörld", "🎬🍿", "x", "a b c", "RTL \u202eabc")
INT_EDGES: list[Any] = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 10**30, -(10**30)]
FLOAT_EDGES: list[Any] = [
    0.0,
    -0.0,
    -1.0,
    1e308,
    -1e308,
    5e-324,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
    10**30,
    2**63,
    1e308,  # finite, but a thousand times it (ms) is not: twice as likely
    -1e308,
]
STRING_EDGES: list[Any] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\x00",
    "\ud800",
    "a" * 10_000,
    "😀" * 50,
    "\u202e\u0301\uffff",
    "' OR 1=1 --",
    '%s%n\n\r\t\\"',
]
# Values that pass validation for inputs of this name: the rest of an input stays plausible
# while one leaf is an edge value, so the edge reaches the code behind the validation.
GOOD: dict[str, Any] = {
    "maxMembers": 10,
    "bufferingTimeoutSeconds": 8,
    "scheduledStart": "2030-01-01T00:00:00Z",
    "until": "2030-01-01T00:00:00Z",
    "closesAt": "2030-01-01T00:00:00Z",
    "expiresInHours": 24,
    "maxUses": 5,
    "positionSeconds": 10.0,
    "rate": 1.0,
    "clientTimeMs": 1_796_529_000_000.0,
    "x": 0.5,
    "y": 0.5,
    "videoPositionSeconds": 1.0,
    "sizeBytes": 1000.0,
    "seconds": 5,
    "position": 0,
    "durationSeconds": 60.0,
    "maxScreenShares": 1,
    "rttMs": 20.0,
    "displayName": "Fuzzy",
    "title": "Fuzz",
    "question": "Which?",
    "body": "hello",
    "filename": "a.mp4",
    "contentType": "video/mp4",
    "url": "https://videos.example.com/a.mp4",
}
DATETIME_EDGES: list[Any] = [
    "garbage",
    "",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-13-45T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00+14:00",
    "+275760-09-13T00:00:00Z",
    "1e308",
    "2026-01-01T00:00:00\x00Z",
    "\ud800",
    1234567890,
    "99999-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",  # exists only east of UTC: year 10000 in UTC
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "2027-03-01T20:00:00",  # no offset, in the future
    "2027-03-01",  # a date alone
]
EDGE_SCALARS = {"Int", "Float", "String", "ID", "DateTime"}  # Booleans and enums have no edges
WRONG_TYPES: list[Any] = [None, True, 2.5, "5", [1], {"a": 1}, 10**40, "NOPE", []]


class ValueMaker:
    """Type-directed values: `nasty` is the chance that a leaf is an edge or wrong value."""

    def __init__(self, schema: GraphQLSchema, rng: random.Random, world: World) -> None:
        self.schema = schema
        self.rng = rng
        self.world = world
        self.fresh_emails = False  # never the world's addresses (sign-up races need a new one)

    def make(
        self, type_: GraphQLInputType, name: str, nasty: float, depth: int = 0, wrong: bool = False
    ) -> Any:
        """A value of `type_`; each leaf is an edge value with probability `nasty`, and with
        `wrong` also of the wrong type, null where null is not allowed, or an unknown enum."""
        rng = self.rng
        if isinstance(type_, GraphQLNonNull):
            if wrong and rng.random() < nasty / 4:
                return None
            return self.make(type_.of_type, name, nasty, depth, wrong)
        if isinstance(type_, GraphQLList):
            if rng.random() < nasty / 3:
                weird: list[Any] = [[], ["x"] * 5000]
                if wrong:
                    weird += [[None], rng.choice(WRONG_TYPES), [[1]]]
                return rng.choice(weird)
            count = rng.randint(0, 3) if depth < 3 else 0
            return [self.make(type_.of_type, name, nasty, depth + 1, wrong) for _ in range(count)]
        if isinstance(type_, GraphQLInputObjectType):
            if wrong and rng.random() < nasty / 5:
                return rng.choice([{}, {"unknownField": 1}, [], "x", 7])
            value: dict[str, Any] = {}
            for key, input_field in type_.fields.items():
                required = isinstance(input_field.type, GraphQLNonNull)
                if required or rng.random() < 0.5:
                    value[key] = self.make(input_field.type, key, nasty, depth + 1, wrong)
            return value
        if isinstance(type_, GraphQLEnumType):
            names = list(type_.values)
            if wrong and rng.random() < nasty:
                return rng.choice(["NOPE", "", names[0].lower(), 1, None, f"{names[0]} "])
            return Enum(rng.choice(names))
        assert isinstance(type_, GraphQLScalarType), type_
        if rng.random() < nasty:
            return self.edge(type_.name, wrong)
        return self.plausible(type_.name, name)

    def edge(self, scalar: str, wrong: bool) -> Any:
        rng = self.rng
        pools = {
            "Int": INT_EDGES,
            "Float": FLOAT_EDGES,
            "String": STRING_EDGES,
            "ID": STRING_EDGES + self.world.all_ids(),
            "DateTime": DATETIME_EDGES,
            "Boolean": [True, False],
        }
        pool = pools.get(scalar, STRING_EDGES)
        if wrong and rng.random() < 0.5:
            return rng.choice([*WRONG_TYPES, "true", 0, 1])
        return rng.choice(pool)

    def plausible(self, scalar: str, name: str) -> Any:
        rng = self.rng
        if name in GOOD and rng.random() < 0.95:
            return GOOD[name]
        if scalar == "Int":
            return rng.choice([0, 1, 2, 5, 10, 60, 100, rng.randint(-5, 500)])
        if scalar == "Float":
            return rng.choice([0.0, 1.0, 0.5, 12.5, 100.0, rng.uniform(-10, 3600)])
        if scalar == "Boolean":
            return rng.random() < 0.5
        if scalar == "DateTime":
            return rng.choice(
                ["2030-01-01T00:00:00Z", "2027-01-06T05:00:00+02:00", "2027-02-01T00:00:00"]
            )
        if scalar == "ID":
            return self.some_id(name)
        return self.some_string(name)

    def some_id(self, name: str) -> str:
        rng = self.rng
        kind = {
            "partyId": "party",
            "userId": "user",
            "toUserId": "user",
            "messageId": "message",
            "replyToId": "message",
            "itemId": "item",
            "pollId": "poll",
            "optionIds": "option",
            "videoId": "video",
            "inviteLinkId": "invite",
            "id": "party",
        }.get(name)
        roll = rng.random()
        if kind and roll < 0.88 and self.world.ids.get(kind):
            return rng.choice(self.world.ids[kind])
        if roll < 0.94 and self.world.all_ids():
            return rng.choice(self.world.all_ids())
        return rng.choice([str(uuid.UUID(int=rng.getrandbits(128))), "1", "abc", "0" * 36])

    def some_string(self, name: str) -> str:
        rng = self.rng
        world = self.world
        if name == "email" and self.fresh_emails:
            return f"race-{rng.getrandbits(32)}@example.com"
        known = world.strings.get(name)
        if known and rng.random() < 0.7:
            return rng.choice(known)
        if name in ("password", "currentPassword", "newPassword") and rng.random() < 0.8:
            return world.password if name == "password" else "another long password 123"
        if name in ("url",):
            return rng.choice(
                [
                    "https://videos.example.com/a.mp4",
                    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                    "ftp://x",
                    "notaurl",
                    "https://vimeo.com/1",
                ]
            )
        if name == "email":
            return f"fuzz{rng.randint(0, 10**6)}@example.com"
        if name == "payload":
            return json.dumps({"sdp": "v=0", "n": rng.randint(0, 9)})
        if name == "contentType":
            return rng.choice(["video/mp4", "text/plain", "video/"])
        return rng.choice(WORDS)


# --- rendering -------------------------------------------------------------------------------


def literal(value: Any) -> str:
    """A value as a GraphQL literal (non-finite floats, which GraphQL cannot write, overflow)."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "-1e999" if value < 0 else "1e999"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are GraphQL escapes (lone surrogates as \ud800)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    return "{" + ", ".join(f"{key}: {literal(item)}" for key, item in value.items()) + "}"


def to_json(value: Any) -> str:
    """Python's JSON: NaN and Infinity as bare tokens, lone surrogates as \\ud800 escapes."""
    return json.dumps(value, allow_nan=True)


# --- selections ------------------------------------------------------------------------------


class Selector:
    """Random selection sets, with plausible arguments for fields that take them."""

    def __init__(self, values: ValueMaker) -> None:
        self.values = values
        self.rng = values.rng

    def args(self, field_: GraphQLField, nasty: float) -> str:
        parts = []
        for name, arg in field_.args.items():
            required = isinstance(arg.type, GraphQLNonNull)
            if required or self.rng.random() < 0.3:
                if name in ("first", "last"):
                    pages: list[Any] = [1, 2, 3]
                    value: Any = self.rng.choice(
                        [*pages, 0, -1, 101, 2**31 - 1] if nasty else pages
                    )
                else:
                    value = self.values.make(arg.type, name, nasty)
                parts.append(f"{name}: {literal(value)}")
        return f"({', '.join(parts)})" if parts else ""

    def full(self, type_: GraphQLNamedType, depth: int) -> str:
        """Every field down to `depth` (pages of 2): what a read-back after the fuzzing asks."""
        if isinstance(type_, GraphQLUnionType):
            members = " ".join(f"... on {m.name} {{ {self.full(m, depth)} }}" for m in type_.types)
            return f"__typename {members}"
        assert isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)), type_
        parts = ["__typename"]
        for name, field_ in type_.fields.items():
            target = get_named_type(field_.type)
            args = [f"{a}: 2" for a in field_.args if a in ("first", "last")]
            args += [
                f"{a}: {literal(self.values.plausible(get_named_type(arg.type).name, a))}"
                for a, arg in field_.args.items()
                if isinstance(arg.type, GraphQLNonNull)
            ]
            call = f"{name}({', '.join(args)})" if args else name
            if is_leaf_type(target):
                parts.append(call)
            elif depth > 0:
                parts.append(f"{call} {{ {self.full(target, depth - 1)} }}")
        return " ".join(parts)

    def select(self, type_: GraphQLNamedType, depth: int, nasty: float) -> str:
        rng = self.rng
        if isinstance(type_, GraphQLUnionType):
            parts = ["__typename"]
            for member in type_.types:
                if any(i.name == "UserError" for i in member.interfaces):
                    continue
                if rng.random() < 0.7:
                    parts.append(f"... on {member.name} {{ {self.select(member, depth, nasty)} }}")
            if any(any(i.name == "UserError" for i in m.interfaces) for m in type_.types):
                parts.append("... on UserError { code message field }")
            return " ".join(parts)
        assert isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)), type_
        fields = list(type_.fields.items())
        chosen = rng.sample(fields, min(len(fields), rng.randint(1, 6)))
        parts = ["__typename"]
        for name, field_ in chosen:
            target = get_named_type(field_.type)
            if is_leaf_type(target):
                parts.append(f"{name}{self.args(field_, nasty)}")
            elif depth > 0:
                inner = self.select(target, depth - 1, nasty)
                parts.append(f"{name}{self.args(field_, nasty)} {{ {inner} }}")
        return " ".join(parts)
