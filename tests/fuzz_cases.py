"""The fuzzer's cases: operations on every root field with a random caller, mode (plausible,
one edge value, wrong types, broken structure) and delivery (variables or inline literals),
races of identical mutations, read-backs of what it wrote, and the malformed requests of
`fuzz_malformed`."""

from __future__ import annotations

import json
import random
from typing import Any

from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)

from tests import fuzz_malformed as malformed
from tests.fuzz import Case, Enum, Request, World, WSCase
from tests.fuzz_values import (
    EDGE_SCALARS,
    WRONG_TYPES,
    Selector,
    ValueMaker,
    literal,
    to_json,
)

CALLERS = ("anonymous", "host", "member", "stranger")
# Mutations that end or empty the party they name: they get the sacrificial party's id.
DESTRUCTIVE = {"deleteParty", "endParty", "leaveParty", "transferHost", "banMember", "kickMember"}
ACCEPTS = (None, "application/json", "application/graphql-response+json", "*/*")


class CaseMaker:
    """Every case from one `random.Random(seed)`, in a fixed order: the same seed and schema
    give the same requests."""

    def __init__(self, schema: GraphQLSchema, seed: int, world: World) -> None:
        self.schema = schema
        self.seed = seed
        self.rng = random.Random(seed)
        self.world = world
        self.values = ValueMaker(schema, self.rng, world)
        self.selector = Selector(self.values)
        self.count = 0

    def _next(self, label: str, **kw: Any) -> Case:
        self.count += 1
        return Case(self.count, label, **kw)

    def _headers(self, caller: str, accept: str | None = None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        token = self.world.tokens.get(caller)
        if token:
            headers["authorization"] = f"Bearer {token}"
        if accept:
            headers["accept"] = accept
        return headers

    def roots(self) -> dict[str, GraphQLObjectType]:
        roots = {"query": self.schema.query_type, "mutation": self.schema.mutation_type}
        return {name: root for name, root in roots.items() if root is not None}

    def operation(self, root: str, name: str, mode: str | None = None) -> Case:
        """One operation on one root field, with a random caller, mode and delivery. Mutations
        that end, empty or hand over a party only ever see the sacrificial party's id."""
        ids = self.world.ids
        if name in DESTRUCTIVE and ids.get("victim"):
            self.world.ids = {**ids, "party": ids["victim"]}
        try:
            return self._operation(root, name, mode)
        finally:
            self.world.ids = ids

    def _operation(self, root: str, name: str, forced_mode: str | None) -> Case:
        rng = self.rng
        type_ = self.roots()[root] if root != "subscription" else self.schema.subscription_type
        assert type_ is not None
        field_ = type_.fields[name]
        caller = rng.choices(CALLERS, [1, 3, 2, 1])[0]  # mostly people who may act
        mode = rng.choices(["valid", "edge", "wrong", "structure"], [3, 6, 2, 2])[0]
        mode = forced_mode or mode
        nasty = {"valid": 0.0, "edge": 0.0, "wrong": 0.15, "structure": 0.0}[mode]
        wrong = mode == "wrong"
        inline = rng.random() < 0.3
        arg_values = {
            arg_name: self.values.make(arg.type, arg_name, nasty, wrong=wrong)
            for arg_name, arg in field_.args.items()
            if isinstance(arg.type, GraphQLNonNull) or rng.random() < 0.5
        }
        returned = get_named_type(field_.type)
        in_selection = 0.1 if mode == "edge" else nasty / 4
        selection = (
            "" if is_leaf_type(returned) else self.selector.select(returned, 2, in_selection)
        )
        if mode == "edge":
            # One fault at a time: everything else plausible, so the faulty value reaches the
            # code that stores or computes with it instead of an earlier validation.
            nasty = 0.0
            slots = [
                slot
                for arg_name, value in arg_values.items()
                for slot in leaves(value, field_.args[arg_name].type, arg_values, arg_name)
            ]
            slots = [slot for slot in slots if slot[2] in EDGE_SCALARS]
            for container, key, scalar in rng.sample(slots, min(len(slots), rng.choice([1, 1, 2]))):
                container[key] = self.values.edge(scalar, wrong=False)
        declared = {arg_name: str(field_.args[arg_name].type) for arg_name in arg_values}
        variables: dict[str, Any] = {}
        detail = mode
        if mode == "structure" and field_.args:
            twist = rng.choice(
                [
                    "missing",
                    "null",
                    "null-field",
                    "declared",
                    "unknown-arg",
                    "extra-var",
                    "enum",
                    "wrong-input",
                ]
            )
            detail = f"structure:{twist}"
            arg_name = rng.choice(list(field_.args))
            arg_values.setdefault(
                arg_name, self.values.make(field_.args[arg_name].type, arg_name, 0.0)
            )
            declared.setdefault(arg_name, str(field_.args[arg_name].type))
            inline = False
            if twist == "declared":
                declared[arg_name] = rng.choice(
                    ["String", "Int!", "[ID!]", "Float", "Boolean!", "NopeInput!"]
                )
            elif twist == "null":
                arg_values[arg_name] = None
            elif twist == "null-field":  # an explicit null deep inside the input
                slots = leaves(
                    arg_values[arg_name], field_.args[arg_name].type, arg_values, arg_name
                )
                if slots:
                    container, key, _ = rng.choice(slots)
                    container[key] = None
            elif twist == "enum":
                arg_values[arg_name] = _replace_enum(arg_values[arg_name])
            elif twist == "wrong-input":
                arg_values[arg_name] = rng.choice(WRONG_TYPES)
            elif twist == "extra-var":
                variables["unused"] = rng.choice(WRONG_TYPES)
        if inline:
            args = ", ".join(f"{key}: {literal(value)}" for key, value in arg_values.items())
            header = ""
        else:
            args = ", ".join(f"{key}: ${key}" for key in arg_values)
            header = (
                "(" + ", ".join(f"${key}: {declared[key]}" for key in arg_values) + ")"
                if arg_values
                else ""
            )
            variables.update(arg_values)
            if detail == "structure:missing" and variables:
                variables.pop(rng.choice(list(arg_values)), None)
            if detail == "structure:unknown-arg":
                args += ", nope: 1"
        call = f"{name}({args})" if args else name
        document = (
            f"{root} Fuzz{header} {{ {call}" + (f" {{ {selection} }}" if selection else "") + " }"
        )
        body: dict[str, Any] = {"query": document}
        if variables or rng.random() < 0.5:
            body["variables"] = variables
        accept = rng.choice(ACCEPTS)
        request = Request(
            "POST", "/graphql", self._headers(caller, accept), to_json(body).encode(), caller
        )
        label = f"{root} {name}, {detail}, {'inline' if inline else 'variables'}"
        return self._next(label, root=root, field_name=name, http=request)

    def operations(self, count: int) -> list[Case]:
        fields = [(root, name) for root, type_ in self.roots().items() for name in type_.fields]
        cases = []
        for i in range(count):
            # Every field once before any twice, then at random.
            root, name = fields[i] if i < len(fields) else self.rng.choice(fields)
            cases.append(self.operation(root, name))
        return cases

    def bursts(self, copies: int) -> list[Case]:
        """Every mutation once with plausible input, to be sent `copies` times at once: races
        between identical requests (two sign-ups with one address) must end in union members."""
        mutation = self.roots()["mutation"]
        cases = []
        self.values.fresh_emails = True
        for name in mutation.fields:
            case = self.operation("mutation", name, mode="valid")
            case.label = f"{case.label}, {copies} at once"
            case.copies = copies
            cases.append(case)
        self.values.fresh_emails = False
        return cases

    def readback(self) -> list[Case]:
        """After the fuzzing, read every field of what it may have written (the party, the
        victim party, the viewer, the video), one top-level field per request so one failure
        cannot hide another and no request exceeds the cost limit."""
        query = self.roots()["query"]
        reads: list[tuple[str, str]] = []
        for kind, field_name in (("party", "party"), ("victim", "party"), ("video", "video")):
            for object_id in self.world.ids.get(kind, [])[:1]:
                reads.append((field_name, f"(id: {literal(object_id)})"))
        reads += [
            ("me", ""),
            ("sessions", ""),
            ("myParties", "(first: 2)"),
            ("publicParties", "(first: 2)"),
        ]
        cases = []
        for field_name, args in reads:
            type_ = get_named_type(query.fields[field_name].type)
            assert isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType))
            for name, field_ in type_.fields.items():
                target = get_named_type(field_.type)
                inner = "" if is_leaf_type(target) else f" {{ {self.selector.full(target, 2)} }}"
                fargs = [f"{a}: 2" for a in field_.args if a in ("first", "last")]
                call = f"{name}({', '.join(fargs)})" if fargs else name
                document = f"query Readback {{ {field_name}{args} {{ {call}{inner} }} }}"
                for caller in ("host", "member"):
                    body = to_json({"query": document}).encode()
                    request = Request("POST", "/graphql", self._headers(caller), body, caller)
                    label = f"read-back {field_name}.{name}"
                    cases.append(
                        self._next(label, root="query", field_name=field_name, http=request)
                    )
        return cases

    # --- transport ----------------------------------------------------------------------------

    def transport(self) -> list[Case]:
        """Malformed and unusual HTTP requests to /graphql (the RNG only picks the caller)."""
        cases = []
        for label, method, target, extra, body in malformed.graphql_http():
            caller = self.rng.choice(CALLERS)
            headers = {**self._headers(caller), **extra}
            if not headers.get("content-type"):
                headers.pop("content-type", None)
            request = Request(method, "/graphql" + target, headers, body, caller)
            cases.append(self._next(f"transport: {label}", http=request))
        return cases

    def rest(self) -> list[Case]:
        """Malformed requests to the REST shim: refresh/logout, OAuth, uploads, media, health."""
        upload = (self.world.strings.get("uploadPath") or ["/uploads/nope"])[0]
        origin = {"origin": self.world.strings["origin"][0]}  # refresh/logout check the Origin
        cases = []
        for label, method, path, extra, body in malformed.rest(upload):
            headers = (
                {**origin, **extra} if path.startswith(("/auth/refresh", "/auth/logout")) else extra
            )
            request = Request(method, path, headers, body)
            cases.append(self._next(f"rest: {label}", http=request))
        return cases

    # --- WebSocket ----------------------------------------------------------------------------

    def _init(self, caller: str) -> str:
        token = self.world.tokens.get(caller)
        payload = {"authorization": f"Bearer {token}"} if token else {}
        return json.dumps({"type": "connection_init", "payload": payload})

    def ws_protocol(self) -> list[Case]:
        """Malformed graphql-transport-ws traffic."""
        party = json.dumps((self.world.ids.get("party") or ["1"])[0])
        cases = []
        for label, sent, expect in malformed.websocket():
            caller = self.rng.choice(CALLERS)
            frames: list[str | bytes] = [
                self._init(caller)
                if frame == "INIT"
                else frame.replace('"PARTY"', party)
                if isinstance(frame, str)
                else frame
                for frame in sent
            ]
            cases.append(self._next(f"ws: {label}", ws=WSCase(frames, caller, expect)))
        return cases

    def ws_operations(self, count: int) -> list[Case]:
        """Every Subscription field in turn, with plausible or (a third of the time) edge
        arguments, over the WebSocket."""
        rng = self.rng
        subscription = self.schema.subscription_type
        assert subscription is not None
        names = list(subscription.fields)
        cases = []
        for i in range(count):
            name = names[i % len(names)]
            field_ = subscription.fields[name]
            caller = rng.choice(CALLERS)
            nasty = rng.choice([0.0, 0.0, 0.4])
            values = {
                arg: self.values.make(a.type, arg, nasty)
                for arg, a in field_.args.items()
                if isinstance(a.type, GraphQLNonNull) or rng.random() < 0.5
            }
            header = ", ".join(f"${arg}: {field_.args[arg].type}" for arg in values)
            args = ", ".join(f"{arg}: ${arg}" for arg in values)
            selection = self.selector.select(get_named_type(field_.type), 2, 0.0)
            call = f"{name}({args})" if args else name
            declared = f"({header})" if header else ""
            document = f"subscription Fuzz{declared} {{ {call} {{ {selection} }} }}"
            message = {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": document, "variables": values},
            }
            frames: list[str | bytes] = [self._init(caller), to_json(message)]
            label = f"ws subscription {name}, {'nasty' if nasty else 'valid'}"
            cases.append(
                self._next(label, root="subscription", field_name=name, ws=WSCase(frames, caller))
            )
        return cases


def leaves(
    value: Any, type_: GraphQLInputType, container: Any, key: Any
) -> list[tuple[Any, Any, str]]:
    """The scalar places in a value of `type_`: (container, key, scalar or enum name)."""
    if isinstance(type_, GraphQLNonNull):
        return leaves(value, type_.of_type, container, key)
    if value is None:
        return []
    if isinstance(type_, GraphQLList) and isinstance(value, list):
        return [
            slot for i, item in enumerate(value) for slot in leaves(item, type_.of_type, value, i)
        ]
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        return [
            slot
            for name, item in value.items()
            if name in type_.fields
            for slot in leaves(item, type_.fields[name].type, value, name)
        ]
    named = get_named_type(type_)
    return [(container, key, named.name)] if is_leaf_type(named) else []


def _replace_enum(value: Any) -> Any:
    """The value with every enum in it renamed to one the schema does not have."""
    if isinstance(value, Enum):
        return "NOPE"
    if isinstance(value, list):
        return [_replace_enum(item) for item in value]
    if isinstance(value, dict):
        return {key: _replace_enum(item) for key, item in value.items()}
    return value
