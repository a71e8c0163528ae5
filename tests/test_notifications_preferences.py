"""Notification preferences through GraphQL: defaults, changes, validation, and what they do to
the feed (a group turned off in-app is not listed; all channels off: nothing is written)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.notifications_ops import COUNT, entries, notify
from tests.parties_ops import Person, person
from tests.support import Api
from watchparty.kit.time import utcnow

PREFS_FIELDS = """groups { group kinds inApp push email locked } emailFrequency timeZone
quietHours { startMinute endMinute } pausedUntil"""
PREFS = f"query {{ notificationPreferences {{ {PREFS_FIELDS} }} }}"
UPDATE = f"""mutation($input: UpdateNotificationPreferencesInput!) {{
  updateNotificationPreferences(input: $input) {{ __typename
    ... on NotificationPreferencesPayload {{ preferences {{ {PREFS_FIELDS} }} }}
    ... on UserError {{ code message field }} }} }}"""

DEFAULT_GROUPS = [
    ("PARTIES", True, True, True, False),
    ("REMINDERS", True, True, True, False),
    ("CHAT", True, True, False, False),
    ("POLLS", True, False, False, False),
    ("VIDEOS", True, True, True, False),
    ("SECURITY", True, True, True, True),
    ("BILLING", True, False, True, False),
    ("ANNOUNCEMENTS", True, False, False, False),
]


def groups(prefs: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(g["group"], g["inApp"], g["push"], g["email"], g["locked"]) for g in prefs["groups"]]


async def prefs_of(api: Api, who: Person | None) -> Any:
    result = await api.gql(PREFS, token=None if who is None else who.token)
    return result.data["notificationPreferences"]


async def update(api: Api, who: Person | None, **input: Any) -> Any:
    result = await api.gql(UPDATE, {"input": input}, token=None if who is None else who.token)
    return result.data["updateNotificationPreferences"]


def error(field: str | None, message: str) -> dict[str, Any]:
    return {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": message,
        "field": field,
    }


async def test_a_new_account_has_the_defaults_and_anonymous_has_none(any_api: Api) -> None:
    ann = await person(any_api, "Ann")
    prefs = await prefs_of(any_api, ann)
    assert groups(prefs) == DEFAULT_GROUPS
    assert prefs["emailFrequency"] == "INSTANT"
    assert prefs["timeZone"] == "UTC"
    assert prefs["quietHours"] is None and prefs["pausedUntil"] is None
    kinds = {g["group"]: g["kinds"] for g in prefs["groups"]}
    assert kinds["CHAT"] == ["MENTION", "REPLY"]
    assert kinds["SECURITY"] == ["NEW_SIGN_IN", "PASSWORD_CHANGED", "SESSION_REVOKED"]
    assert await prefs_of(any_api, None) is None
    assert (await update(any_api, None, emailFrequency="NEVER"))["code"] == "NOT_AUTHENTICATED"


async def test_changes_are_kept_and_only_what_is_given_changes(any_api: Api) -> None:
    ann = await person(any_api, "Ann")
    until = (utcnow() + timedelta(hours=8)).replace(microsecond=0)
    first = await update(
        any_api,
        ann,
        groups=[
            {"group": "CHAT", "push": False, "email": True},
            {"group": "POLLS", "inApp": False},
        ],
        emailFrequency="DAILY",
        timeZone="Europe/Paris",
        quietHours={"startMinute": 22 * 60, "endMinute": 7 * 60},
        pausedUntil=until.isoformat(),
    )
    assert first["__typename"] == "NotificationPreferencesPayload", first
    expected = dict((g[0], g) for g in DEFAULT_GROUPS)
    expected["CHAT"] = ("CHAT", True, False, True, False)
    expected["POLLS"] = ("POLLS", False, False, False, False)
    prefs = first["preferences"]
    assert groups(prefs) == list(expected.values())
    assert prefs["emailFrequency"] == "DAILY"
    assert prefs["timeZone"] == "Europe/Paris"
    assert prefs["quietHours"] == {"startMinute": 1320, "endMinute": 420}
    assert prefs["pausedUntil"] is not None
    assert prefs["pausedUntil"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
    assert await prefs_of(any_api, ann) == prefs

    # Only the channel given changes; null turns quiet hours off and resumes.
    second = await update(
        any_api, ann, groups=[{"group": "CHAT", "push": True}], quietHours=None, pausedUntil=None
    )
    prefs = second["preferences"]
    expected["CHAT"] = ("CHAT", True, True, True, False)
    assert groups(prefs) == list(expected.values())
    assert prefs["quietHours"] is None and prefs["pausedUntil"] is None
    assert prefs["emailFrequency"] == "DAILY" and prefs["timeZone"] == "Europe/Paris"

    # Someone else's preferences are their own.
    bob = await person(any_api, "Bob")
    assert groups(await prefs_of(any_api, bob)) == DEFAULT_GROUPS


async def test_bad_input_is_a_validation_error_and_changes_nothing(any_api: Api) -> None:
    ann = await person(any_api, "Ann")
    cases = [
        (
            {"groups": [{"group": "SECURITY", "email": False}]},
            error("groups", "Security notifications cannot be turned off."),
        ),
        (
            {"groups": [{"group": "CHAT", "push": False}, {"group": "CHAT", "email": True}]},
            error("groups", "CHAT is given twice."),
        ),
        (
            {"timeZone": "Mars/Olympus"},
            error("timeZone", "Unknown time zone: give an IANA name such as Europe/Paris."),
        ),
        ({"timeZone": None}, error("timeZone", "timeZone cannot be null; leave it out.")),
        (
            {"emailFrequency": None},
            error("emailFrequency", "emailFrequency cannot be null; leave it out."),
        ),
        ({"groups": None}, error("groups", "groups cannot be null; leave it out.")),
        (
            {"quietHours": {"startMinute": 1440, "endMinute": 60}},
            error("quietHours.startMinute", "Give minutes after midnight, 0 to 1439."),
        ),
        (
            {"quietHours": {"startMinute": 60, "endMinute": -1}},
            error("quietHours.endMinute", "Give minutes after midnight, 0 to 1439."),
        ),
        (
            {"quietHours": {"startMinute": 60, "endMinute": 60}},
            error("quietHours", "Quiet hours need a different start and end."),
        ),
        (
            {"pausedUntil": (utcnow() + timedelta(days=400)).isoformat()},
            error("pausedUntil", "Pause for at most a year."),
        ),
    ]
    for input, expected in cases:
        assert await update(any_api, ann, **input) == expected, input
    prefs = await prefs_of(any_api, ann)
    assert groups(prefs) == DEFAULT_GROUPS and prefs["timeZone"] == "UTC"
    # Turning SECURITY on (it is on) is fine; a pause in the past is no pause.
    ok = await update(
        any_api,
        ann,
        groups=[{"group": "SECURITY", "email": True}],
        pausedUntil=(utcnow() - timedelta(minutes=1)).isoformat(),
    )
    assert ok["preferences"]["pausedUntil"] is None


async def test_a_group_off_in_app_is_not_in_the_feed(any_api: Api) -> None:
    ann, bob = await person(any_api, "Ann"), await person(any_api, "Bob")
    # Off everywhere: nothing is written. Off in the feed but mailed: not listed, not counted.
    await update(any_api, ann, groups=[{"group": "CHAT", "inApp": False, "push": False}])
    await update(any_api, ann, groups=[{"group": "POLLS", "inApp": False, "email": True}])
    await notify(any_api, [ann], "REPLY", actor=bob)
    await notify(any_api, [ann], "POLL_OPENED", data={"partyId": "p1", "partyTitle": "Movie"})
    await notify(any_api, [ann], "VIDEO_READY", data={"videoId": "v1", "videoTitle": "Clip"})
    assert await entries(any_api, ann) == [
        ("VIDEO_READY", "Your video is ready", "Clip is ready to watch.", "/videos/v1", None, 0,
         (None, None)),
    ]  # fmt: skip
    assert (await any_api.gql(COUNT, token=ann.token)).data == {"unreadNotificationCount": 1}
    # Security is in the feed whatever was stored before the lock.
    await notify(any_api, [ann], "PASSWORD_CHANGED", data={"changed": "changed"})
    assert [e[0] for e in await entries(any_api, ann)] == ["PASSWORD_CHANGED", "VIDEO_READY"]
