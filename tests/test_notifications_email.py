"""Notifications by email: instant emails per kind (text, HTML, List-Unsubscribe), the one-click
unsubscribe, the pause, security emails, the lost-job sweep and the daily digest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.accounts_ops import VERIFY_EMAIL, link_token
from tests.accounts_ops import mutate as account_mutate
from tests.notifications_ops import notify
from tests.parties_ops import Person
from tests.support import Api, unique_email
from tests.test_notifications_preferences import prefs_of
from tests.test_notifications_preferences import update as update_prefs
from watchparty.kit.time import utcnow
from watchparty.notifications.email import send_daily_digests, send_due_emails
from watchparty.notifications.models import Notification

VIDEO = {"videoId": "v1", "videoTitle": "Holiday clip"}


async def verified(api: Api, name: str) -> tuple[Person, str]:
    """A person whose address is verified (through the emailed link), and that address."""
    email = unique_email(name.lower())
    payload = await api.register(email, display_name=name)
    [mail] = await api.emails(email)
    token = link_token(api, mail, "/verify-email")
    result = await account_mutate(api, VERIFY_EMAIL, "verifyEmail", token=token)
    assert result["__typename"] == "VerifyEmailPayload", result
    return Person(payload["accessToken"], payload["user"]["id"], name), email


async def notification_mails(api: Api, to: str, count: int, timeout: float = 10.0) -> Any:
    mails = await api.emails(to, count=count + 1, timeout=timeout, notifications=True)
    return [m for m in mails if m["kind"].startswith("notification:")]


def unsubscribe_path(mail: dict[str, Any]) -> str:
    header = mail["headers"]["List-Unsubscribe"]
    assert header.startswith("<") and header.endswith(">")
    url = urlsplit(header[1:-1])
    return f"{url.path}?{url.query}"


async def test_an_instant_email_per_new_entry_with_a_one_click_unsubscribe(any_api: Api) -> None:
    ann, email = await verified(any_api, "Ann")
    await notify(any_api, [ann], "VIDEO_READY", data=VIDEO)
    [mail] = await notification_mails(any_api, email, 1)
    settings = any_api.settings
    path = unsubscribe_path(mail)
    url = f"{settings.public_url}{path}"
    assert mail["subject"] == "Your video is ready"
    assert mail["kind"] == "notification:VIDEO_READY"
    assert mail["body"] == (
        "Your video is ready\n\nHoliday clip is ready to watch.\n\n"
        f"Open: {settings.frontend_url}/videos/v1\n\n--\n"
        f"You get these emails for your videos. Unsubscribe: {url}"
    )
    assert mail["html"].startswith(
        "<h2>Your video is ready</h2><p>Holiday clip is ready to watch.</p>"
        f'<p><a href="{settings.frontend_url}/videos/v1">Open in WatchParty</a></p>'
    )
    assert mail["headers"] == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert path.startswith("/notifications/unsubscribe?token=")
    token = parse_qs(urlsplit(path).query)["token"][0]
    assert token.startswith(f"{ann.id}.VIDEOS.")

    # A GET (a link scanner, a preview) only shows the button.
    page = await any_api.client.get(path)
    assert page.status_code == 200 and "<form method=post" in page.text
    videos = next(g for g in (await prefs_of(any_api, ann))["groups"] if g["group"] == "VIDEOS")
    assert videos["email"] is True
    # The one-click POST turns the group's email off (twice is the same).
    for _ in range(2):
        done = await any_api.client.post(path, content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200 and "no more emails about your videos" in done.text
    videos = next(g for g in (await prefs_of(any_api, ann))["groups"] if g["group"] == "VIDEOS")
    assert (videos["inApp"], videos["push"], videos["email"]) == (True, True, False)
    await notify(any_api, [ann], "VIDEO_FAILED", data={**VIDEO, "reason": "Bad file"})
    await any_api.drain_jobs()
    assert len(await notification_mails(any_api, email, 1, timeout=1.0)) == 1

    # A forged or malformed token changes nothing.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, "nonsense", f"{ann.id}.SECURITY.{token.split('.')[-1]}", ""):
        response = await any_api.client.post(
            "/notifications/unsubscribe", params={"token": bad}, content=b""
        )
        assert response.status_code == 400, bad


async def test_unverified_addresses_get_only_security_emails_and_those_have_no_unsubscribe(
    any_api: Api,
) -> None:
    email = unique_email("unverified")
    payload = await any_api.register(email, display_name="Una")
    una = Person(payload["accessToken"], payload["user"]["id"], "Una")
    await notify(any_api, [una], "VIDEO_READY", data=VIDEO)
    await notify(any_api, [una], "PASSWORD_CHANGED", data={"changed": "changed"})
    mails = await notification_mails(any_api, email, 1)
    assert [m["kind"] for m in mails] == ["notification:PASSWORD_CHANGED"]
    [mail] = mails
    assert "headers" not in mail
    assert mail["body"].endswith(
        "--\nEvery account gets account security emails; they cannot be turned off."
    )


async def test_collapsed_growth_pause_and_frequency_decide_what_is_mailed(any_api: Api) -> None:
    ann, email = await verified(any_api, "Ann")
    bob, _ = await verified(any_api, "Bob")
    carol, _ = await verified(any_api, "Carol")
    await update_prefs(any_api, ann, groups=[{"group": "CHAT", "email": True}])
    # A collapsed entry is mailed when it is created, not again when it grows.
    await notify(any_api, [ann], "REPLY", actor=bob, group_key="reply:m1")
    [mail] = await notification_mails(any_api, email, 1)
    assert mail["subject"] == "Bob replied to you"
    await notify(any_api, [ann], "REPLY", actor=carol, group_key="reply:m1")
    await any_api.drain_jobs()
    mails = await notification_mails(any_api, email, 1, timeout=1.0)
    assert [m["subject"] for m in mails] == ["Bob replied to you"]

    # Paused: nothing instant (the feed still fills), security excepted.
    until = (utcnow() + timedelta(hours=1)).isoformat()
    await update_prefs(any_api, ann, pausedUntil=until)
    await notify(any_api, [ann], "VIDEO_READY", data=VIDEO)
    await notify(any_api, [ann], "NEW_SIGN_IN", data={"device": "Firefox on Linux"})
    mails = await notification_mails(any_api, email, 2)
    assert [m["subject"] for m in mails] == ["Bob replied to you", "New sign-in to your account"]

    # NEVER: no email but security.
    await update_prefs(any_api, ann, pausedUntil=None, emailFrequency="NEVER")
    await notify(any_api, [ann], "VIDEO_READY", data={**VIDEO, "videoId": "v2"})
    await notify(any_api, [ann], "PASSWORD_CHANGED", data={"changed": "changed"})
    mails = await notification_mails(any_api, email, 3)
    assert [m["subject"] for m in mails][2:] == ["Your password was changed"]


async def test_the_sweep_sends_an_email_whose_job_was_lost_once(any_api: Api) -> None:
    ann, email = await verified(any_api, "Ann")
    await notify(any_api, [ann], "VIDEO_READY", data=VIDEO)
    [first] = await notification_mails(any_api, email, 1)
    # As if the job had been lost: the entry is due a minute ago and was never claimed.
    async with any_api.state.unit_of_work() as uow:
        row_id = await uow.session.scalar(
            select(Notification.id).where(Notification.recipient_id == uuid.UUID(ann.id))
        )
        await uow.session.execute(
            update(Notification)
            .where(Notification.id == row_id)
            .values(emailed_at=None, email_due_at=utcnow() - timedelta(minutes=2))
        )
    ctx = {"state": any_api.state}
    assert await send_due_emails(ctx) >= 1
    await any_api.drain_jobs()
    # ARQ already holds the first send's job id: the same message is not sent twice there; the
    # in-process queue has forgotten it and sends it again (the worst case is a duplicate).
    mails = await notification_mails(any_api, email, 2, timeout=3.0)
    assert all(m["subject"] == first["subject"] for m in mails)
    assert len(mails) == (1 if any_api.settings.redis_url else 2)
    async with any_api.state.sessionmaker() as session:
        emailed = await session.scalar(
            select(Notification.emailed_at).where(Notification.id == row_id)
        )
    assert emailed is not None
    # Claimed: the next sweep finds nothing of Ann's.
    await send_due_emails(ctx)
    await any_api.drain_jobs()
    assert len(await notification_mails(any_api, email, 3, timeout=1.0)) == len(mails)


def zone_at_hour(now: datetime, wanted: range) -> str:
    """An IANA zone whose local hour now is in `wanted`."""
    for offset in range(-11, 15):
        name = f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}"  # Etc signs are inverted
        if now.astimezone(ZoneInfo(name)).hour in wanted:
            return name
    raise AssertionError("no zone")


@pytest.mark.parametrize("which", ["digest"])
async def test_a_daily_digest_once_a_day_after_eight_local_time(any_api: Api, which: str) -> None:
    ann, email = await verified(any_api, "Ann")
    bob, _ = await verified(any_api, "Bob")
    early, _ = await verified(any_api, "Early")
    now = utcnow()
    morning = zone_at_hour(now, range(9, 23))
    night = zone_at_hour(now, range(1, 7))
    await update_prefs(any_api, ann, emailFrequency="DAILY", timeZone=morning)
    await update_prefs(any_api, early, emailFrequency="DAILY", timeZone=night)
    await notify(any_api, [ann, early], "VIDEO_READY", data=VIDEO)
    await notify(
        any_api, [ann], "PARTY_INVITE", actor=bob, data={"partyId": "p1", "partyTitle": "Friday"}
    )
    await notify(any_api, [ann], "POLL_OPENED", data={"partyId": "p1", "partyTitle": "Friday"})
    await any_api.drain_jobs()
    assert await notification_mails(any_api, email, 1, timeout=1.0) == []  # nothing instant

    ctx = {"state": any_api.state}
    await send_daily_digests(ctx)
    await any_api.drain_jobs()
    [digest] = await notification_mails(any_api, email, 1)
    settings = any_api.settings
    assert digest["subject"] == "Your WatchParty digest: 2 new notifications"
    assert digest["kind"] == "notification:DIGEST"
    lines = digest["body"].split("\n--\n")[0].splitlines()
    assert lines == [
        "Your WatchParty digest: 2 new notifications",
        "",
        f"- Bob invited you to Friday: {settings.frontend_url}/parties/p1",
        f"- Your video is ready: {settings.frontend_url}/videos/v1",
    ]  # polls are not mailed by default
    assert digest["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Once a day: running again sends nothing; the early riser's morning has not come.
    await send_daily_digests(ctx)
    await any_api.drain_jobs()
    assert len(await notification_mails(any_api, email, 2, timeout=1.0)) == 1
    early_email = (await any_api.gql("query { me { email } }", token=early.token)).data["me"]
    assert await notification_mails(any_api, early_email["email"], 1, timeout=0.5) == []

    # The digest's unsubscribe link sets the frequency to NEVER.
    done = await any_api.client.post(
        unsubscribe_path(digest), content=b"List-Unsubscribe=One-Click"
    )
    assert done.status_code == 200 and "daily digest" in done.text
    assert (await prefs_of(any_api, ann))["emailFrequency"] == "NEVER"
