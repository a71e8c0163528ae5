"""What preferences do to push (`delivery_policy`): a group's push off, the pause, quiet hours
(held, then sent when they end, or dropped when read meanwhile), and security through all of
them. Against the loopback FCM of `tests/fcm_standin.py`, on the embedded stack; the job is run
by hand where a test stands in for the end of quiet hours."""

from __future__ import annotations

from datetime import timedelta

from tests.fcm_standin import FcmStandIn
from tests.notifications_ops import MARK_READ, mutate
from tests.parties_ops import person
from tests.support import Api
from tests.test_notifications_preferences import update as update_prefs
from tests.test_notifications_push import (  # noqa: F401 (fixtures)
    account,
    deliveries,
    fcm,
    job_ctx,
    new_token,
    push_embedded,
    pushed,
    register,
)
from watchparty.kit.time import utcnow
from watchparty.notifications.push import push_notifications

VIDEO = {"videoId": "v1", "videoTitle": "Clip"}


async def test_push_off_and_pause_keep_it_quiet_but_security_goes_through(
    push_embedded: Api,  # noqa: F811
    fcm: FcmStandIn,  # noqa: F811
) -> None:
    api = push_embedded
    alice, bob = await person(api, "Alice"), await person(api, "Bob")
    token = new_token("policy")
    await register(api, alice, token)
    await update_prefs(api, alice, groups=[{"group": "CHAT", "push": False}])
    (reply,) = await pushed(api, [alice], actor=bob)  # CHAT push off: in the feed, no push
    assert await deliveries(api, reply) == {}
    video, _ = await pushed(api, [alice], kind="VIDEO_READY", data=VIDEO)
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 1)
    assert await deliveries(api, video) == {token: ("SENT", 1, None)}

    await update_prefs(api, alice, pausedUntil=(utcnow() + timedelta(hours=2)).isoformat())
    paused = (await pushed(api, [alice], kind="VIDEO_FAILED", data={**VIDEO, "reason": "x"}))[0]
    assert await deliveries(api, paused) == {}
    security = (
        await pushed(api, [alice], kind="NEW_SIGN_IN", data={"device": "Firefox on Linux"})
    )[0]
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 2)
    assert await deliveries(api, security) == {token: ("SENT", 1, None)}
    titles = [s.json["message"]["notification"]["title"] for s in fcm.sent_to(token)]
    assert titles == ["Your video is ready", "New sign-in to your account"]


async def test_quiet_hours_hold_a_push_until_they_end_or_drop_it_once_read(
    push_embedded: Api,  # noqa: F811
    fcm: FcmStandIn,  # noqa: F811
) -> None:
    api = push_embedded
    carol = await person(api, "Carol")
    token = new_token("quiet")
    await register(api, carol, token)
    now = utcnow()
    minute = now.hour * 60 + now.minute
    quiet = {"startMinute": (minute - 1) % 1440, "endMinute": (minute + 3) % 1440}
    await update_prefs(api, carol, timeZone="UTC", quietHours=quiet)
    held, dropped = (
        await pushed(api, [carol], kind="VIDEO_READY", data=VIDEO),
        (await pushed(api, [carol], kind="VIDEO_FAILED", data={**VIDEO, "reason": "x"}))[0],
    )
    held = held[-1]  # the older of the two: VIDEO_READY
    # The runs after each notify held them: nothing claimed, nothing sent.
    assert await deliveries(api, held) == {} and await deliveries(api, dropped) == {}
    again = await push_notifications(job_ctx(api), notification_ids=[held, dropped])
    assert again == {"claimed": 0, "held": 2}
    assert fcm.sent_to(token) == []
    # Quiet hours end (turned off here, rather than waiting for the clock); one was read.
    read = await mutate(api, MARK_READ, carol, input={"ids": [dropped]})
    assert read["__typename"] == "MarkNotificationsReadPayload"
    await update_prefs(api, carol, quietHours=None)
    done = await push_notifications(job_ctx(api), notification_ids=[held, dropped])
    assert done["claimed"] == 1
    assert await deliveries(api, held) == {token: ("SENT", 1, None)}
    assert await deliveries(api, dropped) == {}
    assert [s.json["message"]["data"]["notificationId"] for s in fcm.sent_to(token)] == [held]
