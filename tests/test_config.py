"""Settings: parsing from the environment, derived defaults, and the production refusal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from watchparty.config import DEFAULT_JWT_KEYS, AppEnv, ConfigurationError, Settings

STRONG = "k1:" + "s" * 40


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting from the caller's environment or a `.env` file leaks in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def from_env(env: pytest.MonkeyPatch, **values: str) -> Settings:
    for name, value in values.items():
        env.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def production(env: pytest.MonkeyPatch, **values: str) -> Settings:
    base = {
        "APP_ENV": "production",
        "JWT_KEYS": STRONG,
        "JWT_ACTIVE_KID": "k1",
        "DATABASE_URL": "postgres://wp:secret@db:5432/watchparty",
        "REDIS_URL": "redis://redis:6379/0",
        "PUBLIC_URL": "https://api.watchparty.example",
    }
    return from_env(env, **{**base, **values})


def test_embedded_defaults(env: pytest.MonkeyPatch) -> None:
    settings = from_env(env)
    assert settings.app_env is AppEnv.DEVELOPMENT
    assert settings.database_url == "sqlite+aiosqlite:///var/watchparty.db"
    assert settings.is_sqlite and settings.embedded
    assert settings.broadcast_url == "memory://"
    assert settings.auto_migrate is True
    assert settings.email_outbox_dir == Path("var/outbox")
    assert settings.cookie_secure is False
    assert settings.graphql_ide is True
    assert settings.allowed_origins == ["http://localhost:3000", "http://localhost:8000"]
    settings.check()  # the defaults run locally


def test_data_dir_moves_the_embedded_files(env: pytest.MonkeyPatch) -> None:
    settings = from_env(env, DATA_DIR="/srv/wp")
    assert settings.database_url == "sqlite+aiosqlite:////srv/wp/watchparty.db"
    assert settings.email_outbox_dir == Path("/srv/wp/outbox")


def test_allowed_origins_is_a_comma_separated_list(env: pytest.MonkeyPatch) -> None:
    settings = from_env(env, ALLOWED_ORIGINS=" https://a.example ,https://b.example,, ")
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/wp", "postgresql+asyncpg://u:p@db:5432/wp"),
        (
            "postgresql://u:p@db/wp?sslmode=require",
            "postgresql+asyncpg://u:p@db/wp?sslmode=require",
        ),
        ("postgresql+asyncpg://u@db/wp", "postgresql+asyncpg://u@db/wp"),
    ],
)
def test_postgres_urls_are_normalised_to_asyncpg(
    env: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    settings = from_env(env, DATABASE_URL=given)
    assert settings.database_url == expected
    assert not settings.is_sqlite
    assert settings.auto_migrate is False  # `watchparty migrate` runs as its own step


def test_redis_url_switches_jobs_and_broadcast(env: pytest.MonkeyPatch) -> None:
    settings = from_env(env, REDIS_URL="redis://cache:6379/2")
    assert not settings.embedded
    assert settings.broadcast_url == "redis://cache:6379/2"
    explicit = from_env(env, BROADCAST_URL="redis-stream://cache:6379/3")
    assert explicit.broadcast_url == "redis-stream://cache:6379/3"


def test_signing_keys_and_active_kid(env: pytest.MonkeyPatch) -> None:
    settings = from_env(env, JWT_KEYS="old:aaaa, new:bbbb:with-colon", JWT_ACTIVE_KID="new")
    assert settings.signing_keys == {"old": "aaaa", "new": "bbbb:with-colon"}
    settings.check()
    with pytest.raises(ConfigurationError, match="JWT_ACTIVE_KID 'gone' is not in JWT_KEYS"):
        from_env(env, JWT_ACTIVE_KID="gone").check()


def test_production_accepts_a_complete_configuration(env: pytest.MonkeyPatch) -> None:
    settings = production(env)
    settings.check()
    assert settings.cookie_secure is True
    assert settings.graphql_ide is False


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"JWT_KEYS": DEFAULT_JWT_KEYS, "JWT_ACTIVE_KID": "dev"}, "JWT_KEYS must be set"),
        ({"JWT_KEYS": "k1:short"}, "JWT_KEYS must be set"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must point at PostgreSQL"),
        ({"REDIS_URL": "", "BROADCAST_URL": "redis://r:6379/0"}, "REDIS_URL must be set"),
        ({"BROADCAST_URL": "memory://"}, "BROADCAST_URL must not be memory://"),
        ({"PUBLIC_URL": "http://api.example"}, "PUBLIC_URL must be https://"),
    ],
)
def test_production_refuses_defaults(
    env: pytest.MonkeyPatch, overrides: dict[str, str], problem: str
) -> None:
    settings = production(env, **overrides)
    with pytest.raises(ConfigurationError, match="refusing to start in production") as caught:
        settings.check()
    assert problem in str(caught.value)


def test_invalid_values_are_rejected(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="access_token_ttl_seconds"):
        from_env(env, ACCESS_TOKEN_TTL_SECONDS="5")
    with pytest.raises(ValueError, match="app_env"):
        from_env(env, APP_ENV="staging")


def test_env_example_documents_every_setting() -> None:
    from watchparty.migrations import ROOT

    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert sorted(expected - documented) == [], "add these to .env.example"
    assert sorted(documented - expected) == [], ".env.example names settings that do not exist"


def test_push_is_off_without_credentials_and_checked_when_set(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    off = from_env(env)
    assert (off.push_enabled, off.firebase_service_account, off.firebase_project) == (
        False,
        None,
        "",
    )
    account = {
        "type": "service_account",
        "project_id": "wp-push",
        "private_key": "-----BEGIN PRIVATE KEY-----\n...",
        "client_email": "push@wp-push.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    inline = from_env(env, FIREBASE_CREDENTIALS=json.dumps(account))
    assert inline.push_enabled and inline.firebase_service_account == account
    assert inline.firebase_project == "wp-push"
    inline.check()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(account))
    from_file = from_env(env, FIREBASE_CREDENTIALS=str(path), FIREBASE_PROJECT_ID="other")
    assert from_file.firebase_service_account == account
    assert from_file.firebase_project == "other"
    env.delenv("FIREBASE_PROJECT_ID")

    for value, problem in [
        (str(tmp_path / "missing.json"), "FIREBASE_CREDENTIALS: cannot read"),
        ("{not json", "FIREBASE_CREDENTIALS is not valid JSON"),
        (json.dumps({**account, "type": "authorized_user"}), "must be a service-account key"),
        (json.dumps({**account, "private_key": ""}), "must be a service-account key"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(problem)):
            from_env(env, FIREBASE_CREDENTIALS=value).check()
    without_project = {k: v for k, v in account.items() if k != "project_id"}
    with pytest.raises(ConfigurationError, match="FIREBASE_PROJECT_ID must be set"):
        from_env(env, FIREBASE_CREDENTIALS=json.dumps(without_project)).check()
    with pytest.raises(ConfigurationError, match="FIREBASE_FCM_URL must be https"):
        production(
            env, FIREBASE_CREDENTIALS=json.dumps(account), FIREBASE_FCM_URL="http://fcm.local"
        ).check()
