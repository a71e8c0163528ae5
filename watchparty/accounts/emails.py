"""The texts of the account emails: plain text, the link on its own line, and when it expires.

Links point at the frontend (`FRONTEND_URL`), which reads the token from the query string and
calls the matching mutation (`verifyEmail`, `resetPassword`).
"""

from __future__ import annotations

from urllib.parse import urlencode

from watchparty.config import Settings
from watchparty.mail import OutgoingMail

SIGNATURE = "— The WatchParty team"


def frontend_link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.frontend_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def _hours(hours: int) -> str:
    return "1 hour" if hours == 1 else f"{hours} hours"


def _minutes(minutes: int) -> str:
    if minutes % 60 == 0:
        return _hours(minutes // 60)
    return f"{minutes} minutes"


def verification_email(
    settings: Settings, *, to: str, display_name: str, token: str, job_id: str
) -> OutgoingMail:
    link = frontend_link(settings, "/verify-email", token)
    expires = _hours(settings.email_token_ttl_hours)
    body = (
        f"Hi {display_name},\n\n"
        "Please confirm that this is your email address by opening this link:\n\n"
        f"{link}\n\n"
        f"The link expires in {expires} and works once.\n\n"
        "If you did not create a WatchParty account, you can ignore this email.\n\n"
        f"{SIGNATURE}\n"
    )
    return OutgoingMail(
        to=to, subject="Confirm your email address", body=body, kind="verify_email", job_id=job_id
    )


def password_reset_email(
    settings: Settings, *, to: str, display_name: str, token: str, job_id: str
) -> OutgoingMail:
    link = frontend_link(settings, "/reset-password", token)
    expires = _minutes(settings.password_reset_ttl_minutes)
    body = (
        f"Hi {display_name},\n\n"
        "Somebody (hopefully you) asked to reset the password of your WatchParty account.\n"
        "To choose a new password, open this link:\n\n"
        f"{link}\n\n"
        f"The link expires in {expires} and works once. Resetting your password signs you out "
        "everywhere.\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n\n"
        f"{SIGNATURE}\n"
    )
    return OutgoingMail(
        to=to, subject="Reset your password", body=body, kind="reset_password", job_id=job_id
    )


def password_changed_email(
    settings: Settings, *, to: str, display_name: str, job_id: str
) -> OutgoingMail:
    reset_page = f"{settings.frontend_url.rstrip('/')}/forgot-password"
    body = (
        f"Hi {display_name},\n\n"
        "The password of your WatchParty account was just changed, and every other device "
        "was signed out.\n\n"
        "If this was you, there is nothing else to do.\n"
        "If it was not, reset your password right away:\n\n"
        f"{reset_page}\n\n"
        f"{SIGNATURE}\n"
    )
    return OutgoingMail(
        to=to,
        subject="Your password was changed",
        body=body,
        kind="password_changed",
        job_id=job_id,
    )
