"""GraphiQL served from the package, so the IDE at `GET /graphql` works without internet.

Strawberry's page loads React and GraphiQL from unpkg.com; offline it never gets past
"Loading...". The same pinned builds (byte for byte the files Strawberry's template names, see
`watchparty/static/graphiql/README.md`) ship in the package and are served under
`/graphiql-assets/`, only when `GRAPHQL_IDE` is on. The page references nothing outside this
server: every asset URL carries a content hash (so it may be cached for a year) and an SRI
`integrity`, and its Content-Security-Policy allows scripts from this origin only.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from watchparty.config import Settings

ASSET_DIR = Path(__file__).resolve().parents[1] / "static" / "graphiql"
ASSETS_PATH = "/graphiql-assets"

_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
# In page order: the scripts run in this order (React before GraphiQL before the plugin).
_STYLES = ("graphiql.min.css", "plugin-explorer.css", "watchparty-graphiql.css")
_SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "watchparty-graphiql.js",
)

# GraphiQL's stylesheet embeds its fonts as data: URIs; Radix (inside GraphiQL) injects <style>
# elements, hence 'unsafe-inline' for styles (never for scripts). 'self' in connect-src covers
# the same-origin WebSocket used for subscriptions.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"

_FAVICON = (
    "data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 100 100%22>"
    "<text y=%22.9em%22 font-size=%2280%22>&#x1f353;</text></svg>"
)


@dataclass(frozen=True)
class Asset:
    name: str
    media_type: str
    integrity: str  # "sha384-<base64>", for the page's SRI attributes
    version: str  # a content hash, for cache busting

    def url(self, root_path: str) -> str:
        return f"{root_path}{ASSETS_PATH}/{self.name}?v={self.version}"


@cache
def assets() -> dict[str, Asset]:
    """The files the page references, read once; nothing else in the folder is served."""
    found: dict[str, Asset] = {}
    for names, media_type in ((_STYLES, _CSS), (_SCRIPTS, _JS)):
        for name in names:
            content = (ASSET_DIR / name).read_bytes()
            digest = base64.b64encode(hashlib.sha384(content).digest()).decode()
            found[name] = Asset(
                name=name,
                media_type=media_type,
                integrity=f"sha384-{digest}",
                version=hashlib.sha256(content).hexdigest()[:12],
            )
    return found


def render_page(root_path: str = "") -> str:
    catalogue = assets()
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{escape(catalogue[name].url(root_path))}"'
        f' integrity="{catalogue[name].integrity}" />'
        for name in _STYLES
    )
    scripts = "\n".join(
        f'    <script src="{escape(catalogue[name].url(root_path))}"'
        f' integrity="{catalogue[name].integrity}"></script>'
        for name in _SCRIPTS
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>watchparty GraphiQL</title>
    <link rel="icon" href="{_FAVICON}" />
{styles}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading...</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
{scripts}
  </body>
</html>
"""


def page_response(request: Request) -> Response:
    """The GraphiQL page for `GET /graphql` with `Accept: text/html`."""
    return HTMLResponse(render_page(request.scope.get("root_path", "")), headers=_PAGE_HEADERS)


class GraphiQLAssets(StaticFiles):
    """The vendored files, with a year of caching (their URLs change when their content does)."""

    def __init__(self) -> None:
        super().__init__(directory=ASSET_DIR)

    async def get_response(self, path: str, scope: Scope) -> Response:
        asset = assets().get(path)
        if asset is None:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = _ASSET_CACHE_CONTROL
        response.headers["x-content-type-options"] = "nosniff"
        if response.status_code != 304:
            response.headers["content-type"] = asset.media_type
        return response


def routes(settings: Settings) -> list[BaseRoute]:
    """`/graphiql-assets/...` when the IDE is on (it is off in production by default)."""
    if not settings.graphql_ide:
        return []
    return [Mount(ASSETS_PATH, app=GraphiQLAssets(), name="graphiql-assets")]


__all__ = [
    "ASSETS_PATH",
    "CONTENT_SECURITY_POLICY",
    "Asset",
    "GraphiQLAssets",
    "assets",
    "page_response",
    "render_page",
    "routes",
]
