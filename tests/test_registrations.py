"""The registrations that let parties reach the domains built on it without importing them:
contributed GraphQL fields (`gql.extend.extend_type`), the offline hooks and the library-media
lookup (`registry.register_callbacks`)."""

from __future__ import annotations

import uuid
from typing import cast

import pytest
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import ValidationProblem
from watchparty.gql.extend import FieldClash, extend_type
from watchparty.parties import validation
from watchparty.parties.presence.hooks import offline_hooks, on_member_offline
from watchparty.parties.validation import Media, check_media_for, use_library_media
from watchparty.registry import register_callbacks
from watchparty.videos.party_media import library_media
from watchparty.voice.service import member_offline


@strawberry.type
class Thing:
    name: str
    _secret: strawberry.Private[int]


@strawberry.type
class Extra:
    @strawberry.field(description="The secret, times `times`.")
    @staticmethod
    def doubled(root: Thing, times: int = 2) -> int:
        return root._secret * times


@strawberry.type
class OtherExtra:
    doubled: int = 0


@strawberry.type
class Clashing:
    name: str = "other"


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(name="a", _secret=21)


def test_extend_type_adds_the_contributed_fields_once() -> None:
    extend_type(Thing, Extra)
    extend_type(Thing, Extra)  # idempotent
    sdl = strawberry.Schema(query=Query).as_str()
    assert '"""The secret, times `times`."""\n  doubled(times: Int! = 2): Int!' in sdl
    assert sdl.count("doubled(") == 1
    result = strawberry.Schema(query=Query).execute_sync("{ thing { name doubled(times: 3) } }")
    assert result.errors is None
    assert result.data == {"thing": {"name": "a", "doubled": 63}}


def test_extend_type_refuses_a_clash() -> None:
    extend_type(Thing, Extra)
    with pytest.raises(FieldClash, match=r"Clashing\.name clashes with a field of Thing"):
        extend_type(Thing, Clashing)
    with pytest.raises(FieldClash, match=r"OtherExtra\.doubled clashes .* \(from Extra\)"):
        extend_type(Thing, OtherExtra)


def test_the_composition_root_registers_each_callback_once() -> None:
    register_callbacks()
    register_callbacks()
    assert offline_hooks() == (member_offline,)
    assert validation._library_media == [library_media]


def test_a_second_library_media_lookup_is_refused() -> None:
    async def other(session: AsyncSession, viewer: uuid.UUID, media: Media, prefix: str) -> Media:
        return media

    with pytest.raises(RuntimeError, match="already registered"):
        use_library_media(other)
    on_member_offline(member_offline)
    assert offline_hooks() == (member_offline,)


async def test_without_a_lookup_a_video_id_is_a_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(validation, "_library_media", [])
    session = cast(AsyncSession, None)  # not reached
    with pytest.raises(ValidationProblem) as raised:
        await check_media_for(session, uuid.uuid4(), Media(video_id="v1"), "media")
    problem = raised.value
    assert (problem.message, problem.field) == (
        "Library videos are not available yet.",
        "media.videoId",
    )
