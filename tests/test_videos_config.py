"""Video settings: defaults, the media signing key, and production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchparty.config import ConfigurationError, Settings, StorageBackend

STRONG = "k1:" + "s" * 40


def production(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "app_env": "production",
        "data_dir": tmp_path,
        "jwt_keys": STRONG,
        "jwt_active_kid": "k1",
        "database_url": "postgres://wp:secret@db:5432/watchparty",
        "redis_url": "redis://redis:6379/0",
        "public_url": "https://api.watchparty.example",
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg, arg-type]


def test_defaults(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.media_dir == tmp_path / "media"
    assert settings.storage_backend is StorageBackend.LOCAL
    assert settings.upload_max_bytes == 5 * 1024**3
    assert (settings.upload_url_ttl_seconds, settings.media_url_ttl_seconds) == (3600, 3600)
    other = Settings(_env_file=None, data_dir=tmp_path, jwt_keys=STRONG)  # type: ignore[call-arg]
    assert len(settings.media_signing_key) == 64
    assert settings.media_signing_key != other.media_signing_key  # follows JWT_KEYS


def test_production_accepts_a_derived_or_strong_key(tmp_path: Path) -> None:
    production(tmp_path).check()
    production(tmp_path, media_signing_key="m" * 32).check()


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"media_signing_key": "short"}, "MEDIA_SIGNING_KEY must be at least 32 characters"),
        ({"storage_backend": "s3"}, "S3_BUCKET must be set with STORAGE_BACKEND=s3"),
    ],
)
def test_production_refuses(tmp_path: Path, values: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        production(tmp_path, **values).check()
    assert str(caught.value) == f"refusing to start in production: {problem}"
