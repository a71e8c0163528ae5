"""Push notifications through firebase-admin's real code path, against loopback stand-ins for
Google's OAuth token endpoint and FCM's send endpoint (`tests/fcm_standin.py`): a service
account generated here (own RSA key) whose `token_uri` is the stand-in, and FIREBASE_FCM_URL
pointing the FCM API at it. Devices are registered through GraphQL; notifications are produced
by `notify` (what every producer calls); the push job runs on the ARQ worker (PostgreSQL) or
in-process (embedded), and is also run by hand where a test needs to run it twice or kill it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from tests.fcm_standin import PROJECT, FcmStandIn, verify_grant
from tests.notifications_ops import MARK_READ, mutate, notify
from tests.parties_ops import Person, person
from tests.support import PASSWORD, Api, make_settings, running_app
from tests.test_auth_refresh import LOGIN, browser, cookie_value, post, sign_in
from watchparty.accounts.models import AuthSession, RefreshToken
from watchparty.accounts.tokens import hash_token
from watchparty.kit.time import utcnow
from watchparty.notifications.models import Notification, PushDelivery, PushDevice
from watchparty.notifications.push import push_notifications

FRONTEND = "https://app.watchparty.test"
WEB_CONFIG = {
    "firebase_web_api_key": "AIzaSyStandInWebApiKey0123456789",
    "firebase_web_app_id": "1:123456789012:web:0a1b2c3d4e5f",
    "firebase_web_messaging_sender_id": "123456789012",
    "firebase_web_vapid_key": "BStandInVapidPublicKey-0123456789_abcdefghijklmnop",
}

REGISTER = """mutation($input: RegisterPushTokenInput!) { registerPushToken(input: $input) {
  __typename ... on RegisterPushTokenPayload { device { id platform deviceName currentSession } }
  ... on UserError { code message field } } }"""
UNREGISTER = """mutation($input: UnregisterPushTokenInput!) { unregisterPushToken(input: $input) {
  __typename ... on UnregisterPushTokenPayload { deviceId }
  ... on UserError { code message field } } }"""
DEVICES = "query { myPushDevices { id platform deviceName currentSession } }"
CONFIG = """query { pushConfig { enabled vapidKey
  webConfig { apiKey authDomain projectId messagingSenderId appId } } }"""


@pytest.fixture(scope="module")
def fcm() -> Any:
    standin = FcmStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def account(fcm: FcmStandIn) -> tuple[dict[str, str], rsa.RSAPublicKey]:
    return fcm.service_account()


@pytest.fixture(scope="module")
async def push_api(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fcm: FcmStandIn,
    account: tuple[dict[str, str], rsa.RSAPublicKey],
) -> AsyncIterator[Api]:
    """The production stack with push on (credentials as JSON in the variable), a worker."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path_factory.mktemp("push-pg"),
        firebase_credentials=json.dumps(account[0]),
        firebase_fcm_url=fcm.url,
        frontend_url=FRONTEND,
        **WEB_CONFIG,
    )
    async with running_app(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def push_embedded(
    tmp_path_factory: pytest.TempPathFactory,
    fcm: FcmStandIn,
    account: tuple[dict[str, str], rsa.RSAPublicKey],
) -> AsyncIterator[Api]:
    """The embedded stack with push on (credentials from a file), no web config."""
    tmp = tmp_path_factory.mktemp("push-embedded")
    path = tmp / "service-account.json"
    path.write_text(json.dumps(account[0]))
    settings = make_settings(
        "embedded",
        database_url="",
        tmp=tmp,
        firebase_credentials=str(path),
        firebase_fcm_url=fcm.url,
        frontend_url=FRONTEND,
    )
    async with running_app(settings) as client:
        yield client


@pytest.fixture(params=["postgres", "embedded"])
def any_push_api(request: pytest.FixtureRequest) -> Api:
    fixture = "push_api" if request.param == "postgres" else "push_embedded"
    result: Api = request.getfixturevalue(fixture)
    return result


def new_token(tag: str = "t") -> str:
    """A registration token shaped like FCM's (unique per test)."""
    return f"{tag}{uuid.uuid4().hex[:10]}:APA91b" + uuid.uuid4().hex + "-_x"


async def register(api: Api, who: Person, token: str, **extra: Any) -> Any:
    variables = {"token": token, "platform": "WEB", "deviceName": "Firefox on Linux", **extra}
    return await mutate(api, REGISTER, who, input=variables)


async def devices(api: Api, who: Person | str) -> list[dict[str, Any]]:
    token = who if isinstance(who, str) else who.token
    result: list[dict[str, Any]] = (await api.gql(DEVICES, token=token)).data["myPushDevices"]
    return result


async def pushed(api: Api, recipients: list[Person], **kwargs: Any) -> list[str]:
    """`notify` (a REPLY by default) and the ids of the notifications written."""
    kwargs.setdefault("data", {"partyId": "p1", "messageId": "m1", "excerpt": "Nice scene!"})
    await notify(api, recipients, **kwargs)
    await api.drain_jobs()
    async with api.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification.id)
            .where(Notification.recipient_id.in_([uuid.UUID(r.id) for r in recipients]))
            .order_by(Notification.updated_at.desc())
        )
        return [str(i) for i in rows]


async def deliveries(
    api: Api, notification_id: str, *, settled: bool = True, timeout: float = 15.0
) -> dict[str, tuple[str, int, str | None]]:
    """token -> (state, attempts, error) of one notification's pushes; with `settled`, once no
    send is in flight (FCM may have answered before the job recorded it)."""
    deadline = time.monotonic() + timeout
    while True:
        async with api.state.sessionmaker() as session:
            rows = await session.scalars(
                select(PushDelivery).where(
                    PushDelivery.notification_id == uuid.UUID(notification_id)
                )
            )
            found = {r.token: (r.state.value, r.attempts, r.error) for r in rows}
        in_flight = any(state == "SENDING" for state, _, _ in found.values())
        if not settled or not in_flight or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def job_ctx(api: Api, job_try: int = 1) -> dict[str, Any]:
    return {"state": api.state, "job_try": job_try, "job_id": None}


# -- configuration -----------------------------------------------------------------------------


async def test_push_config_says_whether_push_is_on_with_public_values_only(
    api: Api, push_api: Api, push_embedded: Api
) -> None:
    off = (await api.gql(CONFIG)).data["pushConfig"]
    assert off == {"enabled": False, "vapidKey": None, "webConfig": None}
    on = (await push_api.gql(CONFIG)).data["pushConfig"]
    assert on == {
        "enabled": True,
        "vapidKey": WEB_CONFIG["firebase_web_vapid_key"],
        "webConfig": {
            "apiKey": WEB_CONFIG["firebase_web_api_key"],
            "authDomain": f"{PROJECT}.firebaseapp.com",
            "projectId": PROJECT,
            "messagingSenderId": WEB_CONFIG["firebase_web_messaging_sender_id"],
            "appId": WEB_CONFIG["firebase_web_app_id"],
        },
    }
    # Credentials without a web config: push is on, the frontend gets no web config.
    bare = (await push_embedded.gql(CONFIG)).data["pushConfig"]
    assert bare == {"enabled": True, "vapidKey": None, "webConfig": None}


# -- delivery ----------------------------------------------------------------------------------


async def test_a_notification_reaches_fcm_as_sent(
    any_push_api: Api, fcm: FcmStandIn, account: tuple[dict[str, str], rsa.RSAPublicKey]
) -> None:
    api = any_push_api
    alice, zoe = await person(api, "Alice"), await person(api, "Zoë")
    web, phone = new_token("web"), new_token("android")
    assert (await register(api, alice, web))["__typename"] == "RegisterPushTokenPayload"
    await register(api, alice, phone, platform="ANDROID", deviceName="Pixel 8")
    before = time.time()
    (notification_id,) = await pushed(api, [alice], actor=zoe, group_key="reply:m1")
    await fcm.wait_for(lambda f: len(f.sent_to(web)) == 1 and len(f.sent_to(phone)) == 1)

    collapse = hashlib.sha256(b"reply:m1").hexdigest()[:32]
    for token in (web, phone):
        (sent,) = fcm.sent_to(token)
        assert sent.path == f"/v1/projects/{PROJECT}/messages:send"
        assert sent.headers["authorization"] == f"Bearer {fcm.access_tokens[-1]}"
        message = sent.json["message"]
        ttl = int(message["android"]["ttl"].removesuffix("s"))
        assert 3590 <= ttl <= 3600  # REPLY: an hour, less the time since it was written
        expiration = int(message["apns"]["headers"]["apns-expiration"])
        assert before + ttl - 2 <= expiration <= time.time() + ttl + 2
        assert message == {
            "token": token,
            "notification": {"title": "Zoë replied to you", "body": "Nice scene!"},
            "data": {
                "notificationId": notification_id,
                "kind": "REPLY",
                "actionPath": "/parties/p1?message=m1",
            },
            "android": {"collapse_key": collapse, "ttl": f"{ttl}s"},
            "apns": {"headers": {"apns-expiration": str(expiration), "apns-collapse-id": collapse}},
            "webpush": {
                "headers": {"TTL": str(ttl), "Topic": collapse},
                "fcm_options": {"link": f"{FRONTEND}/parties/p1?message=m1"},
            },
        }
        # On the wire: compact UTF-8 JSON, nothing else (with the values above: every byte).
        assert (
            sent.body == json.dumps(sent.json, ensure_ascii=False, separators=(",", ":")).encode()
        )
        assert "Zoë replied to you".encode() in sent.body
    assert await deliveries(api, notification_id) == {
        web: ("SENT", 1, None),
        phone: ("SENT", 1, None),
    }
    # The OAuth grant went to the service account's token_uri: a JWT signed with its key
    # (google-auth names Google's endpoint as the audience whatever the token_uri).
    claims = verify_grant(fcm.grants[-1], account[1])
    assert fcm.grants[-1].path == "/token"
    assert (claims["iss"], claims["aud"]) == (
        account[0]["client_email"],
        "https://oauth2.googleapis.com/token",
    )
    assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"].split()


async def test_dead_tokens_are_removed_and_only_failed_pushes_are_retried(
    push_api: Api, fcm: FcmStandIn
) -> None:
    """On the worker: FCM's answers per token. Dead tokens go; transient failures are retried
    by the job (after Retry-After) for those tokens only; nothing that succeeded is resent."""
    api = push_api
    alice = await person(api, "Alice")
    ok, gone, invalid, quota, down = (new_token(t) for t in ("ok", "gone", "bad", "quota", "down"))
    for token in (ok, gone, invalid, quota, down):
        assert (await register(api, alice, token))["__typename"] == "RegisterPushTokenPayload"
    fcm.script(gone, "UNREGISTERED")
    fcm.script(invalid, "INVALID_ARGUMENT")
    fcm.script(quota, "QUOTA_EXCEEDED:3")
    # firebase-admin itself retries a 503 four times (within ~7 s) before reporting it.
    fcm.script(down, *["UNAVAILABLE"] * 5)
    (notification_id,) = await pushed(api, [alice])
    await fcm.wait_for(
        lambda f: (
            [r.answer for r in f.sent_to(quota)] == ["QUOTA_EXCEEDED:3", "OK"]
            and [r.answer for r in f.sent_to(down)][-1:] == ["OK"]
        ),
        timeout=60,
    )
    answers = {t: [r.answer for r in fcm.sent_to(t)] for t in (ok, gone, invalid, quota, down)}
    assert answers == {
        ok: ["OK"],
        gone: ["UNREGISTERED"],
        invalid: ["INVALID_ARGUMENT"],
        quota: ["QUOTA_EXCEEDED:3", "OK"],
        down: ["UNAVAILABLE"] * 5 + ["OK"],
    }
    first, second = fcm.sent_to(quota)
    assert second.at - first.at >= 3.0  # Retry-After respected
    assert await deliveries(api, notification_id) == {
        ok: ("SENT", 1, None),
        gone: ("FAILED", 1, "UNREGISTERED"),
        invalid: ("FAILED", 1, "INVALID_ARGUMENT"),
        quota: ("SENT", 2, None),
        down: ("SENT", 2, None),
    }
    # The tokens FCM called dead are unregistered; the others stay.
    left = {d["id"] for d in await devices(api, alice)}
    assert len(left) == 3
    async with api.state.sessionmaker() as session:
        tokens = set(await session.scalars(select(PushDevice.token)))
    assert {ok, quota, down} <= tokens and not {gone, invalid} & tokens


async def test_a_notification_is_never_pushed_twice_to_one_device(
    api: Api, push_api: Api, fcm: FcmStandIn
) -> None:
    bob = await person(push_api, "Bob")
    token = new_token("twice")
    await register(push_api, bob, token)
    (notification_id,) = await pushed(push_api, [bob])
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 1)
    # The job again (a duplicate, a retry), twice: nothing is claimed, nothing is sent.
    for _ in range(2):
        again = await push_notifications(job_ctx(push_api), notification_ids=[notification_id])
        assert again == {"claimed": 0}
    # Two runs at once of a batch nobody pushed yet (written where push is off: no job).
    await notify(api, [bob], data={"partyId": "p2", "excerpt": "Hi"})
    async with push_api.state.sessionmaker() as session:
        newest = await session.scalar(
            select(Notification.id)
            .where(Notification.recipient_id == uuid.UUID(bob.id))
            .order_by(Notification.created_at.desc())
            .limit(1)
        )
    ids = [str(newest)]
    results = await asyncio.gather(
        push_notifications(job_ctx(push_api), notification_ids=ids),
        push_notifications(job_ctx(push_api), notification_ids=ids),
    )
    assert sorted(r["claimed"] for r in results) == [0, 1]
    assert len(fcm.sent_to(token)) == 2  # one per notification
    # A collapsed entry that grows is not pushed again while unread.
    await pushed(push_api, [bob], group_key="reply:x1", actor=None)
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 3)
    await pushed(push_api, [bob], group_key="reply:x1", actor=None)
    await asyncio.sleep(1.0)
    assert len(fcm.sent_to(token)) == 3


async def test_a_worker_killed_mid_send_does_not_resend(
    api: Api, push_api: Api, fcm: FcmStandIn
) -> None:
    """At most once: the claim commits before the send, so a run that dies while FCM holds
    its request leaves the pair claimed, and the next run does not send it again."""
    carol = await person(push_api, "Carol")
    token = new_token("killed")
    await register(push_api, carol, token)
    fcm.script(token, "HANG")
    (notification_id,) = await pushed(api, [carol])  # push off there: no job of its own
    run = asyncio.create_task(
        push_notifications(job_ctx(push_api), notification_ids=[notification_id])
    )
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 1)
    run.cancel()  # the worker dies mid-send
    await asyncio.gather(run, return_exceptions=True)
    assert await deliveries(push_api, notification_id, settled=False) == {
        token: ("SENDING", 1, None)
    }
    again = await push_notifications(job_ctx(push_api, 2), notification_ids=[notification_id])
    assert again == {"claimed": 0}
    fcm.release()
    assert len(fcm.sent_to(token)) == 1


async def test_read_and_revoked_and_expired_sign_ins_are_not_pushed(
    api: Api, push_api: Api, fcm: FcmStandIn
) -> None:
    dave = await person(push_api, "Dave")
    token = new_token("skip")
    await register(push_api, dave, token)
    (read_id,) = await pushed(api, [dave])
    await mutate(push_api, MARK_READ, dave, input={"all": True})
    assert await push_notifications(job_ctx(push_api), notification_ids=[read_id]) == {"claimed": 0}
    # A device whose sign-in expired (or was revoked without the hook: an older deploy) is
    # skipped at send time.
    async with push_api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == uuid.UUID(dave.id))
            .values(expires_at=AuthSession.created_at)
        )
    ids = await pushed(api, [dave])
    assert await push_notifications(job_ctx(push_api), notification_ids=ids[:1]) == {"claimed": 0}
    assert fcm.sent_to(token) == []


# -- devices -----------------------------------------------------------------------------------


async def test_devices_are_your_own_and_every_field_needs_a_sign_in(any_push_api: Api) -> None:
    api = any_push_api
    erin, frank = await person(api, "Erin"), await person(api, "Frank")
    token = new_token("own")
    anonymous = {"code": "NOT_AUTHENTICATED", "message": "You need to sign in.", "field": None}
    assert await mutate(api, REGISTER, None, input={"token": token, "platform": "WEB"}) == {
        "__typename": "NotAuthenticated",
        **anonymous,
    }
    assert await mutate(api, UNREGISTER, None, input={"token": token}) == {
        "__typename": "NotAuthenticated",
        **anonymous,
    }
    listed = await api.gql(DEVICES)
    assert listed.body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in listed.body["errors"]] == [
        ("You need to sign in.", "NOT_AUTHENTICATED")
    ]

    first = await register(api, erin, token)
    assert first["__typename"] == "RegisterPushTokenPayload"
    device = first["device"]
    assert {k: device[k] for k in ("platform", "deviceName", "currentSession")} == {
        "platform": "WEB",
        "deviceName": "Firefox on Linux",
        "currentSession": True,
    }
    # Idempotent: the same device; a left-out name keeps the stored one.
    again = await mutate(api, REGISTER, erin, input={"token": token, "platform": "WEB"})
    assert again["device"] == device
    assert await devices(api, erin) == [device]

    # Another person's token is NotFound, like an unknown one; the owner's stays.
    not_found = {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
        "message": "Push token not found.",
        "field": "token",
    }
    assert await mutate(api, UNREGISTER, frank, input={"token": token}) == not_found
    assert await mutate(api, UNREGISTER, frank, input={"token": new_token()}) == not_found
    assert await devices(api, erin) == [device]
    assert await mutate(api, UNREGISTER, erin, input={"token": token}) == {
        "__typename": "UnregisterPushTokenPayload",
        "deviceId": device["id"],
    }
    assert await devices(api, erin) == []
    assert await mutate(api, UNREGISTER, erin, input={"token": token}) == not_found

    # Validation.
    def invalid(message: str, field: str) -> dict[str, Any]:
        return {
            "__typename": "ValidationError",
            "code": "VALIDATION",
            "message": message,
            "field": field,
        }

    length = "A push token has 16 to 1024 characters."
    charset = "A push token has only letters, digits and _ - : . characters."
    assert await register(api, erin, "short") == invalid(length, "token")
    assert await register(api, erin, "x" * 1025) == invalid(length, "token")
    assert await register(api, erin, "a" * 20 + "/+=") == invalid(charset, "token")
    assert await register(api, erin, "a" * 20 + " b") == invalid(charset, "token")
    assert await register(api, erin, new_token(), deviceName="n" * 101) == invalid(
        "A device name has at most 100 characters.", "deviceName"
    )
    assert await devices(api, erin) == []


async def test_a_token_moves_to_the_account_that_registers_it(
    push_api: Api, fcm: FcmStandIn
) -> None:
    api = push_api
    gina, hank = await person(api, "Gina"), await person(api, "Hank")
    token = new_token("moves")
    await register(api, gina, token)
    moved = await register(api, hank, token, platform="ANDROID", deviceName="Shared tablet")
    assert moved["device"]["platform"] == "ANDROID"
    assert await devices(api, gina) == []
    assert await devices(api, hank) == [moved["device"]]
    await pushed(api, [gina])
    (hanks,) = await pushed(api, [hank])
    await fcm.wait_for(lambda f: len(f.sent_to(token)) == 1)
    await asyncio.sleep(0.5)
    (only,) = fcm.sent_to(token)
    assert only.json["message"]["data"]["notificationId"] == hanks


async def test_past_the_cap_the_least_recently_seen_device_goes(push_embedded: Api) -> None:
    api = push_embedded
    ivy = await person(api, "Ivy")
    tokens = [new_token(f"cap{i}") for i in range(11)]
    for token in tokens[:10]:
        await register(api, ivy, token, deviceName=token[:8])
    await register(api, ivy, tokens[0], deviceName=tokens[0][:8])  # seen again
    await register(api, ivy, tokens[10], deviceName=tokens[10][:8])
    names = [d["deviceName"] for d in await devices(api, ivy)]
    assert len(names) == 10
    assert names[:2] == [tokens[10][:8], tokens[0][:8]]  # most recently seen first
    assert tokens[1][:8] not in names  # the least recently seen went


async def test_signing_out_and_revoking_a_sign_in_unregister_its_tokens(
    push_api: Api, fcm: FcmStandIn
) -> None:
    api = push_api
    # One user, three sign-ins (each a device of its own), plus a refresh-token reuse.
    user_id, access_a, cookie_a = await sign_in(api)
    email = (await api.gql("{ me { email } }", token=access_a)).data["me"]["email"]
    sessions = []
    for _ in range(3):
        sessions.append(await login(api, email))
    (access_b, _), (access_c, _), (access_d, cookie_d) = sessions
    tokens = {name: new_token(name) for name in "abcd"}
    for name, access in zip("abcd", (access_a, access_b, access_c, access_d), strict=True):
        await register(api, Person(token=access, id=user_id, name="Someone"), tokens[name])
    assert len(await devices(api, access_c)) == 4

    # Sign-out: a's token goes.
    assert (await post(api, "/auth/logout", cookie_a)).status_code == 204
    # revokeSession of b from c: b's token goes.
    listed = (await api.gql("{ sessions { id current } }", token=access_b)).data["sessions"]
    (b_id,) = [s["id"] for s in listed if s["current"]]
    revoked = await api.gql(
        """mutation($input: RevokeSessionInput!) { revokeSession(input: $input) {
        __typename } }""",
        {"input": {"sessionId": b_id}},
        token=access_c,
    )
    assert revoked.data["revokeSession"]["__typename"] == "RevokeSessionPayload"
    # A refresh token used again after its rotation revokes d (and its token goes).
    rotated = await post(api, "/auth/refresh", cookie_d)
    assert rotated.status_code == 200
    async with api.state.unit_of_work() as uow:  # rotated before the reuse grace window
        await uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(cookie_d))
            .values(rotated_at=utcnow() - timedelta(minutes=5))
        )
    assert (await post(api, "/auth/refresh", cookie_d)).status_code == 401

    left = await devices(api, access_c)
    assert [(d["currentSession"]) for d in left] == [True]
    person_c = Person(token=access_c, id=user_id, name="Someone")
    (notification_id,) = (await pushed(api, [person_c]))[:1]
    # c's device also gets the SESSION_REVOKED security notice of the reuse.
    await fcm.wait_for(lambda f: len(f.sent_to(tokens["c"])) == 2)
    kinds = sorted(s.json["message"]["data"]["kind"] for s in fcm.sent_to(tokens["c"]))
    assert kinds == ["REPLY", "SESSION_REVOKED"]
    assert set(await deliveries(api, notification_id)) == {tokens["c"]}


async def login(api: Api, email: str) -> tuple[str, str]:
    """Another sign-in of `email`: (access token, refresh cookie)."""
    async with browser(api) as client:
        response = await client.post(
            "/graphql",
            content=json.dumps(
                {"query": LOGIN, "variables": {"input": {"email": email, "password": PASSWORD}}}
            ),
            headers={"content-type": "application/json"},
        )
    payload = response.json()["data"]["login"]
    return payload["accessToken"], cookie_value(response)
