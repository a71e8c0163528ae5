"""GraphQL types of push: devices, their mutations' inputs and payloads, and `PushConfig` (the
public Firebase web config a frontend needs to obtain a token)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from watchparty.config import Settings
from watchparty.notifications.models import PushDevice as PushDeviceRow
from watchparty.notifications.models import PushPlatform

strawberry.enum(PushPlatform, description="Where a push token comes from.")


@strawberry.type(description="A device (browser or app) that receives the viewer's pushes.")
class PushDevice:
    id: strawberry.ID
    platform: PushPlatform
    device_name: str | None
    created_at: datetime
    last_seen_at: datetime = strawberry.field(description="When it was last registered.")
    current_session: bool = strawberry.field(
        description="Registered from the sign-in making this request."
    )

    @classmethod
    def from_row(cls, row: PushDeviceRow, session_id: object) -> PushDevice:
        return cls(
            id=strawberry.ID(str(row.id)),
            platform=row.platform,
            device_name=row.device_name,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current_session=row.auth_session_id is not None and row.auth_session_id == session_id,
        )


@strawberry.input
class RegisterPushTokenInput:
    token: str = strawberry.field(
        description="The FCM registration token (16 to 1024 letters, digits, _ - : .)."
    )
    platform: PushPlatform
    device_name: str | None = strawberry.field(
        default=None, description="Shown in myPushDevices (at most 100 characters)."
    )


@strawberry.type
class RegisterPushTokenPayload:
    device: PushDevice


@strawberry.input
class UnregisterPushTokenInput:
    token: str


@strawberry.type
class UnregisterPushTokenPayload:
    device_id: strawberry.ID = strawberry.field(description="The device that was removed.")


@strawberry.type(description="Firebase's public web config (the values of `firebaseConfig`).")
class FirebaseWebConfig:
    api_key: str
    auth_domain: str
    project_id: str
    messaging_sender_id: str
    app_id: str


@strawberry.type(
    description="Whether the server sends push notifications, and the public values a web "
    "frontend needs to obtain a token (`getToken(messaging, {vapidKey})`)."
)
class PushConfig:
    enabled: bool = strawberry.field(description="Push is configured on the server.")
    vapid_key: str | None = strawberry.field(
        description="The web push certificate's public key; null when not configured."
    )
    web_config: FirebaseWebConfig | None = strawberry.field(
        description="Null when push is off or the web config is not set."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> PushConfig:
        if not settings.push_enabled:
            return cls(enabled=False, vapid_key=None, web_config=None)
        project = settings.firebase_project
        web: FirebaseWebConfig | None = None
        if (
            settings.firebase_web_api_key
            and settings.firebase_web_app_id
            and settings.firebase_web_messaging_sender_id
        ):
            web = FirebaseWebConfig(
                api_key=settings.firebase_web_api_key,
                auth_domain=settings.firebase_web_auth_domain or f"{project}.firebaseapp.com",
                project_id=project,
                messaging_sender_id=settings.firebase_web_messaging_sender_id,
                app_id=settings.firebase_web_app_id,
            )
        return cls(enabled=True, vapid_key=settings.firebase_web_vapid_key or None, web_config=web)
