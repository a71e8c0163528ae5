"""A small OAuth 2 / OpenID Connect provider for tests, served on loopback by `live_server`.

It plays both providers the app knows:
- an OIDC provider like Google: `/.well-known/openid-configuration`, `/authorize`, `/token`,
  `/jwks`; the id_token is RS256-signed and carries the nonce from the authorize request;
- an OAuth 2 provider like GitHub: `/login/oauth/authorize`, `/login/oauth/access_token`,
  `/user`, `/user/emails`.

`/authorize` signs the preconfigured test identity in at once and redirects back with a code. The
token endpoints check what a strict real provider checks: client id and secret, the code (one
use, bound to its client and redirect_uri), and the PKCE verifier against the S256 challenge.
Every token request is recorded so tests can see what the app really sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class GoogleUser:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Grace Hopper"
    picture: str = "https://example.com/grace.png"


@dataclass
class GitHubUser:
    id: int
    login: str
    emails: list[dict[str, Any]]
    name: str | None = "Linus T"
    avatar_url: str = "https://example.com/linus.png"


@dataclass
class Grant:
    kind: str  # "oidc" or "github"
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    identity: Any


@dataclass
class OAuthTestProvider:
    client_id: str = "test-client"
    client_secret: str = "test-secret"
    base_url: str = ""  # set once the server listens
    google_user: GoogleUser | None = None
    github_user: GitHubUser | None = None
    # Claims to override in the next id_tokens (tests of the app's id_token validation).
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    # Sign id_tokens with this key instead of the published one (a forged token).
    signing_key: RSAKey | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _access_tokens: dict[str, GitHubUser] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))

    # -- shared ----------------------------------------------------------------------------

    def _authorize(self, request: Request, kind: str) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect_uri:
            return JSONResponse({"error": "invalid_client"}, status_code=400)

        def back(**params: str) -> RedirectResponse:
            if "state" in q:
                params["state"] = q["state"]
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 is required")
        identity = self.google_user if kind == "oidc" else self.github_user
        if identity is None:
            return back(error="access_denied")
        if kind == "oidc" and (not q.get("nonce") or "openid" not in q.get("scope", "").split()):
            return back(error="invalid_request", error_description="openid scope and nonce")
        code = secrets.token_urlsafe(16)
        self._grants[code] = Grant(
            kind, self.client_id, redirect_uri, q["code_challenge"], q.get("nonce"), identity
        )
        return back(code=code)

    async def _redeem(self, request: Request, kind: str) -> Grant | JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant.kind != kind or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not verifier or challenge != grant.code_challenge:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                status_code=400,
            )
        return grant

    # -- OpenID Connect (Google-like) ------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base_url,
                "authorization_endpoint": f"{self.base_url}/authorize",
                "token_endpoint": f"{self.base_url}/token",
                "jwks_uri": f"{self.base_url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        return self._authorize(request, "oidc")

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def token(self, request: Request) -> Response:
        grant = await self._redeem(request, "oidc")
        if isinstance(grant, Response):
            return grant
        user: GoogleUser = grant.identity
        now = int(time.time())
        claims = {
            "iss": self.base_url,
            "aud": self.client_id,
            "sub": user.sub,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "picture": user.picture,
            "nonce": grant.nonce,
            "iat": now,
            "exp": now + 300,
            **self.id_token_overrides,
        }
        key = self.signing_key or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "scope": "openid email profile",
            }
        )

    # -- OAuth 2 (GitHub-like) ------------------------------------------------------------

    async def github_authorize(self, request: Request) -> Response:
        return self._authorize(request, "github")

    async def github_token(self, request: Request) -> Response:
        grant = await self._redeem(request, "github")
        if isinstance(grant, Response):
            # GitHub answers token errors with 200 and an error body.
            return JSONResponse(json.loads(bytes(grant.body)))
        access = secrets.token_urlsafe(16)
        self._access_tokens[access] = grant.identity
        return JSONResponse({"access_token": access, "token_type": "bearer", "scope": "user:email"})

    def _github_user(self, request: Request) -> GitHubUser | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self._access_tokens.get(token)

    async def github_user_info(self, request: Request) -> Response:
        user = self._github_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(
            {"id": user.id, "login": user.login, "name": user.name, "avatar_url": user.avatar_url}
        )

    async def github_emails(self, request: Request) -> Response:
        user = self._github_user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(user.emails)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
                Route("/login/oauth/authorize", self.github_authorize),
                Route("/login/oauth/access_token", self.github_token, methods=["POST"]),
                Route("/user", self.github_user_info),
                Route("/user/emails", self.github_emails),
            ]
        )
