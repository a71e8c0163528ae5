"""Social sign-in end to end against a provider on loopback (tests/oauth_provider.py).

The browser is played by httpx: the app's login redirect is followed to the provider over real
HTTP, the provider's redirect back is followed to the app's callback, and the app itself talks to
the provider over real HTTP (discovery, token exchange with PKCE, JWKS, GitHub's API).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.accounts_ops import VERIFY_EMAIL, link_token, mutate, signed_out
from tests.oauth_provider import GitHubUser, GoogleUser, OAuthTestProvider
from tests.support import PASSWORD, Api, free_port, live_server, make_settings, running_app
from tests.support import unique_email as _unique_email

APP = "http://testserver"
FRONTEND = "http://localhost:3000"
ORIGIN = {"origin": FRONTEND}
ME = "{ me { id email emailVerified displayName avatarUrl hasPassword } }"
SESSIONS = "{ sessions { method current } }"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
    __typename ... on AuthPayload { accessToken user { id } } } }"""


def unique_email() -> str:
    return _unique_email("oauth")


@dataclass
class Env:
    api: Api
    provider: OAuthTestProvider


def provider_settings(base: str, provider: OAuthTestProvider) -> dict[str, Any]:
    return {
        "public_url": APP,
        "frontend_url": FRONTEND,
        "google_client_id": provider.client_id,
        "google_client_secret": provider.client_secret,
        "google_metadata_url": f"{base}/.well-known/openid-configuration",
        "github_client_id": provider.client_id,
        "github_client_secret": provider.client_secret,
        "github_authorize_url": f"{base}/login/oauth/authorize",
        "github_token_url": f"{base}/login/oauth/access_token",
        "github_api_url": base,
    }


@pytest.fixture(scope="module", params=["postgres", "embedded"])
async def env(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    provider = OAuthTestProvider()
    async with live_server(provider.app()) as base:
        provider.base_url = base
        settings = make_settings(
            request.param,
            database_url=pg_url,
            tmp=tmp_path_factory.mktemp("oauth"),
            **provider_settings(base, provider),
        )
        async with running_app(settings) as api:
            yield Env(api, provider)


class Browser:
    """One person's browser: its own cookie jar, the app over ASGI, the provider over HTTP."""

    def __init__(self, api: Api) -> None:
        transport = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 50002))
        self.app = httpx.AsyncClient(transport=transport, base_url=APP)
        self.net = httpx.AsyncClient()

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.aclose()
        await self.net.aclose()

    async def start(self, provider: str, next_path: str | None = None) -> str:
        params = {} if next_path is None else {"next": next_path}
        response = await self.app.get(f"/auth/oauth/{provider}/login", params=params)
        assert response.status_code == 302, response.text
        flow_cookie = [
            c for c in response.headers.get_list("set-cookie") if c.startswith("wp_oauth=")
        ]
        assert len(flow_cookie) == 1
        assert "Path=/auth/oauth" in flow_cookie[0] and "HttpOnly" in flow_cookie[0]
        return response.headers["location"]

    async def authorize(self, url: str) -> str:
        """The provider's authorize endpoint: signs in at once and redirects back to us."""
        response = await self.net.get(url)
        assert response.status_code == 302, response.text
        location: str = response.headers["location"]
        return location

    async def callback(self, url: str) -> httpx.Response:
        assert url.startswith(APP + "/auth/oauth/"), url
        return await self.app.get(url)

    async def sign_in(
        self,
        provider: str,
        next_path: str | None = None,
        tamper: Callable[[str], str] | None = None,
    ) -> httpx.Response:
        url = await self.start(provider, next_path)
        return await self.callback(await self.authorize(tamper(url) if tamper else url))

    async def refresh(self) -> str:
        """POST /auth/refresh with the cookie the callback set; returns the access token."""
        response = await self.app.post("/auth/refresh", headers=ORIGIN)
        assert response.status_code == 200, response.text
        token: str = response.json()["accessToken"]
        return token


@pytest.fixture
async def browser(env: Env) -> AsyncIterator[Browser]:
    """A browser, and a provider with nobody signed in and honest id_tokens."""
    env.provider.google_user = env.provider.github_user = None
    env.provider.id_token_overrides = {}
    env.provider.signing_key = None
    async with Browser(env.api) as b:
        yield b


def signed_in(response: httpx.Response, expected_location: str) -> None:
    assert response.status_code == 302, response.text
    assert response.headers["location"] == expected_location
    cookies = response.headers.get_list("set-cookie")
    refresh = [c for c in cookies if c.startswith("wp_refresh=")]
    assert len(refresh) == 1 and "HttpOnly" in refresh[0] and "Path=/auth" in refresh[0]
    assert any(c.startswith('wp_oauth=""') for c in cookies)  # the flow cookie is spent


def rejected(response: httpx.Response, code: str) -> None:
    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"{FRONTEND}/login?error={code}"
    assert not any(c.startswith("wp_refresh=") for c in response.headers.get_list("set-cookie"))


async def me(env: Env, access: str) -> Any:
    return (await env.api.gql(ME, token=access)).data["me"]


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_google_sign_in_creates_a_verified_user_without_password(
    env: Env, browser: Browser
) -> None:
    email = unique_email()
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=email, name="Grace  Hopper")

    response = await browser.sign_in("google", "/parties/42?tab=chat")
    signed_in(response, f"{FRONTEND}/parties/42?tab=chat")
    access = await browser.refresh()
    user = await me(env, access)
    assert user == {
        "id": user["id"],
        "email": email,
        "emailVerified": True,
        "displayName": "Grace Hopper",
        "avatarUrl": "https://example.com/grace.png",
        "hasPassword": False,
    }
    sessions = (await env.api.gql(SESSIONS, token=access)).data["sessions"]
    assert sessions == [{"method": "google", "current": True}]

    # What the app really sent: PKCE S256 with a verifier matching the challenge, a nonce, and
    # the registered redirect_uri on both legs.
    authorize = env.provider.authorize_requests[-1]
    token = env.provider.token_requests[-1]
    assert authorize["code_challenge_method"] == "S256"
    assert 43 <= len(token["code_verifier"]) <= 128
    assert s256(token["code_verifier"]) == authorize["code_challenge"]
    assert authorize["nonce"] and authorize["scope"].split() == ["openid", "email", "profile"]
    assert authorize["redirect_uri"] == token["redirect_uri"] == f"{APP}/auth/oauth/google/callback"

    # Signing in again with the same Google account (even after an email change there) finds
    # the same user through the link, not through the email.
    env.provider.google_user = GoogleUser(sub=env.provider.google_user.sub, email=unique_email())
    async with Browser(env.api) as again:
        signed_in(await again.sign_in("google"), f"{FRONTEND}/")
        assert (await me(env, await again.refresh()))["id"] == user["id"]


async def register_verified(env: Env, email: str) -> str:
    """A password account whose email was verified through the mailed link; returns its id."""
    payload = await env.api.register(email)
    mail = (await env.api.emails(email))[0]
    token = link_token(env.api, mail, "/verify-email")
    result = await mutate(env.api, VERIFY_EMAIL, "verifyEmail", token=token)
    assert result["__typename"] == "VerifyEmailPayload", result
    user_id: str = payload["user"]["id"]
    return user_id


async def password_login(env: Env, email: str) -> dict[str, Any]:
    result = await env.api.gql(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    login: dict[str, Any] = result.data["login"]
    return login


async def test_verified_google_email_links_an_existing_password_account(
    env: Env, browser: Browser
) -> None:
    email = unique_email()
    user_id = await register_verified(env, email)
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=email.upper())

    signed_in(await browser.sign_in("google"), f"{FRONTEND}/")
    user = await me(env, await browser.refresh())
    assert (user["id"], user["email"], user["hasPassword"]) == (user_id, email, True)
    # The password still works: the account's owner had proved the email already.
    assert (await password_login(env, email))["__typename"] == "AuthPayload"


async def test_linking_an_unverified_account_ends_its_password_and_sessions(
    env: Env, browser: Browser
) -> None:
    """Whoever registered the unverified account may not own the email (pre-hijacking)."""
    email = unique_email()
    squatter = await env.api.register(email)
    assert await me(env, squatter["accessToken"]) is not None
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=email)

    signed_in(await browser.sign_in("google"), f"{FRONTEND}/")
    user = await me(env, await browser.refresh())
    assert user["id"] == squatter["user"]["id"]
    assert (user["emailVerified"], user["hasPassword"]) == (True, False)
    assert await signed_out(env.api, squatter["accessToken"])
    assert (await password_login(env, email))["__typename"] == "InvalidCredentials"


async def test_unverified_provider_email_never_links(env: Env, browser: Browser) -> None:
    email = unique_email()
    await env.api.register(email)
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=email, email_verified=False)
    rejected(await browser.sign_in("google"), "oauth_email_unverified")

    # An unverified email nobody uses yet makes a new, unverified account.
    fresh = unique_email()
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=fresh, email_verified=False)
    async with Browser(env.api) as other:
        signed_in(await other.sign_in("google"), f"{FRONTEND}/")
        user = await me(env, await other.refresh())
    assert (user["email"], user["emailVerified"]) == (fresh, False)


async def test_tampered_or_missing_state_is_rejected_before_any_exchange(
    env: Env, browser: Browser
) -> None:
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    exchanges = len(env.provider.token_requests)

    back = await browser.authorize(await browser.start("google"))
    rejected(
        await browser.callback(with_query(back, state="forged-" + "x" * 40)), "oauth_state_invalid"
    )

    # Another browser (no flow cookie) presenting a genuine callback URL.
    back = await browser.authorize(await browser.start("google"))
    async with Browser(env.api) as stranger:
        rejected(await stranger.callback(back), "oauth_state_invalid")

    # A flow cookie that was altered (one character of its ciphertext).
    sealed = browser.app.cookies.get("wp_oauth", path="/auth/oauth")
    assert sealed and sealed.count(".") == 4
    head, key, iv, ciphertext, tag = sealed.split(".")
    flipped = ("B" if ciphertext[0] == "A" else "A") + ciphertext[1:]
    forged = ".".join([head, key, iv, flipped, tag])
    async with Browser(env.api) as stranger:
        response = await stranger.app.get(back, headers={"cookie": f"wp_oauth={forged}"})
    rejected(response, "oauth_state_invalid")

    # A state cookie made for GitHub does not complete a Google callback.
    await browser.start("github")
    rejected(await browser.callback(back), "oauth_state_invalid")

    assert len(env.provider.token_requests) == exchanges  # no code was ever exchanged


async def test_a_callback_cannot_be_replayed(env: Env, browser: Browser) -> None:
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    back = await browser.authorize(await browser.start("google"))
    signed_in(await browser.callback(back), f"{FRONTEND}/")
    rejected(await browser.callback(back), "oauth_state_invalid")


async def test_pkce_is_enforced_by_the_provider(env: Env, browser: Browser) -> None:
    """An authorization code bound to another challenge cannot be redeemed with our verifier."""
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    response = await browser.sign_in(
        "google", tamper=lambda url: with_query(url, code_challenge=s256("an attacker's verifier"))
    )
    rejected(response, "oauth_provider_error")
    token = env.provider.token_requests[-1]
    assert s256(token["code_verifier"]) != env.provider.authorize_requests[-1]["code_challenge"]

    env.provider.github_user = GitHubUser(
        id=int(uuid.uuid4().int % 10**9),
        login="pkce",
        emails=[{"email": unique_email(), "primary": True, "verified": True}],
    )
    async with Browser(env.api) as other:
        response = await other.sign_in(
            "github", tamper=lambda url: with_query(url, code_challenge=s256("attacker"))
        )
    rejected(response, "oauth_provider_error")


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "a-different-nonce"},
        {"aud": "another-client"},
        {"iss": "http://127.0.0.1:1"},
        {"exp": 1_000_000},
    ],
    ids=["nonce", "aud", "iss", "exp"],
)
async def test_id_token_claims_are_validated(
    env: Env, browser: Browser, overrides: dict[str, Any]
) -> None:
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    env.provider.id_token_overrides = overrides
    rejected(await browser.sign_in("google"), "oauth_invalid_token")


async def test_id_token_signed_by_another_key_is_rejected(env: Env, browser: Browser) -> None:
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    env.provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid
    rejected(await browser.sign_in("google"), "oauth_invalid_token")


async def test_github_uses_the_primary_verified_email(env: Env, browser: Browser) -> None:
    primary, secondary = unique_email(), unique_email()
    env.provider.github_user = GitHubUser(
        id=int(uuid.uuid4().int % 10**9),
        login="linus",
        emails=[
            {"email": secondary, "primary": False, "verified": True, "visibility": None},
            {"email": primary, "primary": True, "verified": True, "visibility": "private"},
        ],
    )
    signed_in(await browser.sign_in("github", f"{FRONTEND}/welcome"), f"{FRONTEND}/welcome")
    access = await browser.refresh()
    user = await me(env, access)
    assert (user["email"], user["emailVerified"], user["displayName"]) == (primary, True, "Linus T")
    sessions = (await env.api.gql(SESSIONS, token=access)).data["sessions"]
    assert sessions == [{"method": "github", "current": True}]
    token = env.provider.token_requests[-1]
    assert token["client_secret"] == env.provider.client_secret
    assert s256(token["code_verifier"]) == env.provider.authorize_requests[-1]["code_challenge"]


async def test_github_without_an_email_or_with_an_unverified_colliding_one(
    env: Env, browser: Browser
) -> None:
    env.provider.github_user = GitHubUser(id=int(uuid.uuid4().int % 10**9), login="x", emails=[])
    rejected(await browser.sign_in("github"), "oauth_email_missing")

    taken = unique_email()
    await env.api.register(taken)
    env.provider.github_user = GitHubUser(
        id=int(uuid.uuid4().int % 10**9),
        login="y",
        emails=[{"email": taken, "primary": True, "verified": False}],
    )
    async with Browser(env.api) as other:
        rejected(await other.sign_in("github"), "oauth_email_unverified")


async def test_denied_at_the_provider(env: Env, browser: Browser) -> None:
    env.provider.google_user = None  # the provider answers error=access_denied
    rejected(await browser.sign_in("google"), "oauth_denied")


@pytest.mark.parametrize(
    ("next_path", "lands_on"),
    [
        ("https://evil.example/x", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("http://localhost:3000@evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        (f"{FRONTEND}/ok?x=1", "/ok?x=1"),
    ],
)
async def test_next_never_leaves_the_frontend(
    env: Env, browser: Browser, next_path: str, lands_on: str
) -> None:
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    signed_in(await browser.sign_in("google", next_path), f"{FRONTEND}{lands_on}")


async def test_unknown_and_unconfigured_providers_are_404(any_api: Api) -> None:
    """The shared test apps configure no client ids at all."""
    transport = httpx.ASGITransport(app=any_api.app)
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        paths = ["/auth/oauth/facebook/login", "/auth/oauth/facebook/callback?code=x&state=y"]
        paths += [
            f"/auth/oauth/{p}/{leg}"
            for p in ("google", "github")
            for leg in ("login", "callback?code=x&state=y")
        ]
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_an_unreachable_provider_is_an_error_redirect(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    provider = OAuthTestProvider()
    settings = make_settings(
        "embedded", database_url="", tmp=tmp_path, **provider_settings(dead, provider)
    )
    async with running_app(settings) as api, Browser(api) as b:
        rejected(await b.app.get("/auth/oauth/google/login"), "oauth_unavailable")


async def test_a_social_sign_in_from_a_new_device_is_notified(env: Env, browser: Browser) -> None:
    """The first social sign-in creates the account (no notice); the same account from another
    browser is a new device, named with its provider."""
    feed = "{ notifications { edges { node { kind title body actionPath } } } }"
    env.provider.google_user = GoogleUser(sub=uuid.uuid4().hex, email=unique_email())
    signed_in(await browser.sign_in("google"), f"{FRONTEND}/")
    access = await browser.refresh()
    assert (await env.api.gql(feed, token=access)).data["notifications"]["edges"] == []

    async with Browser(env.api) as firefox:
        firefox.app.headers["user-agent"] = (
            "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
        )
        signed_in(await firefox.sign_in("google"), f"{FRONTEND}/")
    (edge,) = (await env.api.gql(feed, token=access)).data["notifications"]["edges"]
    node = edge["node"]
    body_start = "Firefox on Linux with Google, IP 127.0.0.1, at "
    assert (node["kind"], node["title"], node["actionPath"]) == (
        "NEW_SIGN_IN",
        "New sign-in to your account",
        "/settings/sessions",
    )
    assert node["body"].startswith(body_start), node["body"]
    assert node["body"].endswith(" UTC. Not you? Sign it out and change your password.")
