"""`/notifications/unsubscribe?token=...`: the link at the bottom of every notification email.

- `POST` (RFC 8058 one-click: mail clients send `List-Unsubscribe=One-Click`; the page's button
  posts the same form) applies it: email off for that kind's group, or NEVER for a digest's
  link. Idempotent; 200 with a short HTML page.
- `GET` only shows that page with a button: link scanners and previews fetch links, so a GET
  never changes anything.
- A token that is malformed or not signed by us: 400. The account gone: 200 (nothing to stop).
No sign-in needed: the signed token is the authority, and it can only turn email off.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from watchparty.accounts.models import User
from watchparty.kit.time import utcnow
from watchparty.notifications import preferences
from watchparty.notifications.email import GROUP_LABELS, read_unsubscribe_token
from watchparty.notifications.models import EmailFrequency
from watchparty.state import AppState

HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}",
        status_code=status,
        headers=HEADERS,
    )


async def unsubscribe(request: Request) -> Response:
    state: AppState = request.app.state.wp
    token = request.query_params.get("token", "")
    found = read_unsubscribe_token(state.settings, token)
    if found is None:
        return _page("This link is not valid", "<p>Open your notification settings.</p>", 400)
    what = "daily digest" if found.group is None else GROUP_LABELS[found.group]
    if request.method != "POST":
        form = (
            f"<form method=post action='?token={html.escape(token)}'>"
            "<input type=hidden name=List-Unsubscribe value=One-Click>"
            f"<button>Stop emails about {html.escape(what)}</button></form>"
        )
        return _page("Unsubscribe", form)
    async with state.unit_of_work() as uow:
        if await uow.session.get(User, found.user_id) is None:
            return _page("Unsubscribed", "<p>There is nothing to send any more.</p>")
        if found.group is None:
            await preferences.update(
                uow.session, found.user_id, utcnow(), email_frequency=EmailFrequency.NEVER
            )
        else:
            change = preferences.GroupChange(found.group, email=False)
            await preferences.update(uow.session, found.user_id, utcnow(), groups=[change])
    return _page(
        "Unsubscribed",
        f"<p>You will get no more emails about {html.escape(what)}. "
        "Change this any time in your notification settings.</p>",
    )


routes = [Route("/notifications/unsubscribe", unsubscribe, methods=["GET", "POST"])]
