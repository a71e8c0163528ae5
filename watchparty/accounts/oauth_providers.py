"""The two social providers, spoken to with authlib's httpx OAuth 2 client.

Google is OpenID Connect: endpoints come from the discovery document, and the identity is the
`id_token`, whose signature (JWKS), issuer, audience, expiry and nonce are all checked. GitHub is
plain OAuth 2: the identity comes from `GET /user`, the email from `GET /user/emails` (the primary
address and whether GitHub verified it). Both use state and PKCE (S256).

Every failure is a `ProviderError` carrying a stable code the sign-in redirect can show.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from watchparty.accounts.oauth import ProviderIdentity
from watchparty.config import Settings

with warnings.catch_warnings():
    # authlib prefers the `httpx2` package and warns when it falls back to `httpx`, which the
    # rest of the project uses; the fallback is complete for what we call.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

HTTP_TIMEOUT_SECONDS = 10.0
METADATA_TTL_SECONDS = 3600.0
ID_TOKEN_ALGORITHMS = ["RS256"]
CLOCK_LEEWAY_SECONDS = 60


class ProviderError(Exception):
    """The provider could not be reached, refused, or answered something we cannot trust."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


UNAVAILABLE = "oauth_unavailable"
PROVIDER_ERROR = "oauth_provider_error"
INVALID_ID_TOKEN = "oauth_invalid_token"  # noqa: S105 - an error code, not a secret


@dataclass
class DocumentCache:
    """Discovery documents and JWKS, per URL, for an hour. Lives in the process state."""

    entries: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def get(self, url: str, *, force: bool = False) -> Any:
        cached = self.entries.get(url)
        if cached is not None and not force and cached[0] > time.monotonic():
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
                response = await http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(UNAVAILABLE, f"{url}: {exc!r}") from exc
        if not isinstance(document, dict):
            raise ProviderError(PROVIDER_ERROR, f"{url}: not a JSON object")
        self.entries[url] = (time.monotonic() + METADATA_TTL_SECONDS, document)
        return document


class Provider(Protocol):
    name: str
    uses_nonce: bool

    async def authorization_url(
        self, *, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str: ...

    async def identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> ProviderIdentity: ...


def _client(client_id: str, client_secret: str, scope: str, auth_method: str) -> Any:
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
        timeout=HTTP_TIMEOUT_SECONDS,
    )


async def _exchange(
    client: Any, token_url: str, *, code: str, redirect_uri: str, code_verifier: str
) -> dict[str, Any]:
    """The real token request (with the PKCE verifier)."""
    try:
        token = await client.fetch_token(
            token_url, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
    except OAuthError as exc:
        raise ProviderError(PROVIDER_ERROR, f"token endpoint: {exc.error}") from exc
    except httpx.HTTPStatusError as exc:
        raise ProviderError(PROVIDER_ERROR, f"token endpoint: {exc!r}") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(UNAVAILABLE, f"token endpoint: {exc!r}") from exc
    except (ValueError, TypeError) as exc:
        raise ProviderError(PROVIDER_ERROR, f"token endpoint: {exc!r}") from exc
    if not isinstance(token, dict) or not token.get("access_token"):
        raise ProviderError(PROVIDER_ERROR, "token endpoint: no access_token")
    return dict(token)


class GoogleProvider:
    name = "google"
    uses_nonce = True
    scope = "openid email profile"

    def __init__(self, settings: Settings, cache: DocumentCache) -> None:
        self._settings = settings
        self._cache = cache

    async def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = await self._cache.get(self._settings.google_metadata_url)
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str):
                raise ProviderError(PROVIDER_ERROR, f"discovery document lacks {key}")
        return metadata

    def _oauth(self) -> Any:
        s = self._settings
        return _client(
            s.google_client_id, s.google_client_secret, self.scope, "client_secret_basic"
        )

    async def authorization_url(
        self, *, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str:
        metadata = await self._metadata()
        async with self._oauth() as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                nonce=nonce,
            )
        return str(url)

    async def identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> ProviderIdentity:
        metadata = await self._metadata()
        async with self._oauth() as client:
            token = await _exchange(
                client,
                metadata["token_endpoint"],
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            )
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError(PROVIDER_ERROR, "token response has no id_token")
        claims = await self._verify_id_token(metadata, id_token, nonce)
        email = claims.get("email")
        verified = claims.get("email_verified")
        return ProviderIdentity(
            provider=self.name,
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=verified is True or verified == "true",
            display_name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            avatar_url=claims.get("picture") if isinstance(claims.get("picture"), str) else None,
        )

    async def _verify_id_token(
        self, metadata: dict[str, Any], id_token: str, nonce: str | None
    ) -> dict[str, Any]:
        if not nonce:
            raise ProviderError(INVALID_ID_TOKEN, "no nonce was sent")
        client_id = self._settings.google_client_id
        jws = JWSRegistry(algorithms=ID_TOKEN_ALGORITHMS, strict_check_header=False)
        try:
            try:
                keys = KeySet.import_key_set(await self._cache.get(metadata["jwks_uri"]))
                decoded = jwt.decode(id_token, keys, registry=jws)
            except InvalidKeyIdError:
                # A key id we have not seen: the provider rotated its keys. Fetch them once more.
                fresh = await self._cache.get(metadata["jwks_uri"], force=True)
                decoded = jwt.decode(id_token, KeySet.import_key_set(fresh), registry=jws)
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderError(INVALID_ID_TOKEN, f"id_token: {exc}") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        claims = decoded.claims
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise ProviderError(INVALID_ID_TOKEN, f"id_token: {exc}") from exc
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise ProviderError(INVALID_ID_TOKEN, "id_token: azp is not our client")
        return claims


class GitHubProvider:
    name = "github"
    uses_nonce = False
    scope = "read:user user:email"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _oauth(self) -> Any:
        s = self._settings
        return _client(s.github_client_id, s.github_client_secret, self.scope, "client_secret_post")

    async def authorization_url(
        self, *, redirect_uri: str, state: str, code_verifier: str, nonce: str | None
    ) -> str:
        async with self._oauth() as client:
            url, _ = client.create_authorization_url(
                self._settings.github_authorize_url,
                state=state,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            )
        return str(url)

    async def identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str | None
    ) -> ProviderIdentity:
        api = self._settings.github_api_url.rstrip("/")
        async with self._oauth() as client:
            await _exchange(
                client,
                self._settings.github_token_url,
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            )
            user = await self._get(client, f"{api}/user")
            emails = await self._get(client, f"{api}/user/emails")
        if not isinstance(user, dict) or user.get("id") is None:
            raise ProviderError(PROVIDER_ERROR, "/user has no id")
        primary = (
            next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
            if isinstance(emails, list)
            else None
        )
        email = primary.get("email") if primary else None
        name = user.get("name") or user.get("login")
        return ProviderIdentity(
            provider=self.name,
            subject=str(user["id"]),
            email=email if isinstance(email, str) else None,
            email_verified=bool(primary and primary.get("verified") is True),
            display_name=name if isinstance(name, str) else None,
            avatar_url=user.get("avatar_url") if isinstance(user.get("avatar_url"), str) else None,
        )

    @staticmethod
    async def _get(client: Any, url: str) -> Any:
        try:
            response = await client.get(url, headers={"accept": "application/vnd.github+json"})
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            raise ProviderError(PROVIDER_ERROR, f"{url}: {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(UNAVAILABLE, f"{url}: {exc!r}") from exc
        except ValueError as exc:
            raise ProviderError(PROVIDER_ERROR, f"{url}: not JSON") from exc


def configured_names(settings: Settings) -> list[str]:
    """The social providers people can sign in with here (a client id is configured)."""
    client_ids = {"google": settings.google_client_id, "github": settings.github_client_id}
    return [name for name, client_id in client_ids.items() if client_id]


def configured_provider(settings: Settings, name: str, cache: DocumentCache) -> Provider | None:
    """The provider called `name`, or None when it is unknown or has no client id configured."""
    if name not in configured_names(settings):
        return None
    return GoogleProvider(settings, cache) if name == "google" else GitHubProvider(settings)
