"""Tabs refreshing at once stay signed in; reuse after the grace window is still theft; a refresh
rate limit answers 429 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from tests.accounts_ops import SESSIONS, signed_out
from tests.support import Api, make_settings, running_app
from tests.test_auth_refresh import age_rotations, cookie_value, error_code, me, post, sign_in
from watchparty.accounts.models import AuthSession, RefreshToken


async def age_tokens(api: Api, user_id: str, seconds: float = 3600) -> None:
    """Date every refresh token of the user (issue and rotation) `seconds` ago."""
    families = select(AuthSession.id).where(AuthSession.user_id == uuid.UUID(user_id))
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id.in_(families))
            .values(created_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
    await age_rotations(api, user_id, seconds)


async def test_five_tabs_refreshing_at_once_all_stay_signed_in(any_api: Api) -> None:
    user_id, _, cookie = await sign_in(any_api)
    results = await asyncio.gather(*(post(any_api, "/auth/refresh", cookie) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5
    successors = [cookie_value(r) for r in results]
    assert len(set(successors)) == 5 and cookie not in successors  # one rotation, 4 siblings
    for result in results:
        assert (await me(any_api, result.json()["accessToken"]))["id"] == user_id
    # Still one sign-in, alive: whichever successor the browser kept refreshes normally.
    access = results[0].json()["accessToken"]
    rows = (await any_api.gql(SESSIONS, token=access)).data["sessions"]
    assert [row["current"] for row in rows] == [True, False]  # this one (just used), register's
    for successor in successors:
        assert (await post(any_api, "/auth/refresh", successor)).status_code == 200


async def test_reuse_after_the_grace_window_revokes_the_family(any_api: Api) -> None:
    user_id, _, cookie = await sign_in(any_api)
    first = await post(any_api, "/auth/refresh", cookie)
    assert first.status_code == 200
    await age_rotations(any_api, user_id)  # the window (10 s by default) has passed
    replay = await post(any_api, "/auth/refresh", cookie)
    assert (replay.status_code, error_code(replay)) == (401, "REFRESH_TOKEN_REUSED")
    assert await signed_out(any_api, first.json()["accessToken"])
    after = await post(any_api, "/auth/refresh", cookie_value(first))
    assert (after.status_code, error_code(after)) == (401, "REFRESH_TOKEN_REVOKED")


async def test_a_sibling_nobody_kept_is_retired_by_the_next_rotation(any_api: Api) -> None:
    """A sibling obtained with a stolen token inside the window is caught at the owner's next
    refresh: the regular rotation retires the family's older unused tokens."""
    user_id, _, cookie = await sign_in(any_api)
    owner, thief = await asyncio.gather(
        post(any_api, "/auth/refresh", cookie), post(any_api, "/auth/refresh", cookie)
    )
    assert (owner.status_code, thief.status_code) == (200, 200)
    await age_tokens(any_api, user_id)
    assert (await post(any_api, "/auth/refresh", cookie_value(owner))).status_code == 200
    stolen = await post(any_api, "/auth/refresh", cookie_value(thief))
    assert (stolen.status_code, error_code(stolen)) == (401, "REFRESH_TOKEN_REUSED")


async def test_refresh_is_rate_limited_per_token_and_per_ip(tmp: Path) -> None:
    settings = make_settings(
        "embedded",
        database_url="",
        tmp=tmp,
        rate_limit_refresh_token="3/60",
        rate_limit_refresh_ip="6/60",
    )
    async with running_app(settings) as api:
        _, _, cookie = await sign_in(api)
        same = [await post(api, "/auth/refresh", cookie) for _ in range(4)]
        assert [r.status_code for r in same] == [200, 200, 200, 429]  # 2 siblings, then limited
        limited = same[-1]
        assert error_code(limited) == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "set-cookie" not in limited.headers  # the cookie is left alone
        # Other cookies from the same address: 2 more pass, then the address is limited.
        cookies = [(await sign_in(api))[2] for _ in range(3)]
        statuses = [(await post(api, "/auth/refresh", c)).status_code for c in cookies]
        assert statuses == [200, 200, 429]
