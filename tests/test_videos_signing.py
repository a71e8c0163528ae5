"""The token format of `videos/signing.py` (shared by upload and media URLs)."""

from __future__ import annotations

import pytest

from watchparty.config import Settings
from watchparty.videos.signing import ExpiredSignature, InvalidSignature, expiry, sign, verify

SETTINGS = Settings(media_signing_key="k" * 40)
OTHER_KEY = Settings(media_signing_key="j" * 40)


def test_round_trip_binds_purpose_subject_and_key() -> None:
    token = sign(SETTINGS, "media", "video-1:hls/", 2_000)
    assert verify(SETTINGS, "media", token, now=1_999) == "video-1:hls/"
    with pytest.raises(InvalidSignature, match="bad signature"):
        verify(SETTINGS, "upload", token, now=1_000)
    with pytest.raises(InvalidSignature, match="bad signature"):
        verify(OTHER_KEY, "media", token, now=1_000)


def test_expired() -> None:
    token = sign(SETTINGS, "upload", "video-1", 2_000)
    with pytest.raises(ExpiredSignature):
        verify(SETTINGS, "upload", token, now=2_000)


def test_tampering_is_detected() -> None:
    token = sign(SETTINGS, "media", "video-1:hls/", 2_000)
    subject, expires, mac = token.split(".")
    other = sign(SETTINGS, "media", "video-2:hls/", 2_000).split(".")[0]
    for forged in (f"{other}.{expires}.{mac}", f"{subject}.3000.{mac}", f"{subject}.{expires}.x"):
        with pytest.raises(InvalidSignature):
            verify(SETTINGS, "media", forged, now=1_000)
    for malformed in ("", "a.b", "a.b.c.d", f"{subject}.-1.{mac}", "%%%.1.%%%"):
        with pytest.raises(InvalidSignature, match="malformed"):
            verify(SETTINGS, "media", malformed, now=1_000)


def test_nul_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        sign(SETTINGS, "media", "a\0b", 2_000)


def test_expiry_is_rounded_up_to_a_tenth_of_the_ttl() -> None:
    assert expiry(3600, now=1_000_000) == 1_003_680  # >= now + ttl, a multiple of 360
    assert expiry(3600, now=1_000_079) == 1_003_680  # the same URL for a while
    assert expiry(3600, now=1_000_080) == 1_004_040
    for now in range(1_000_000, 1_000_720, 7):
        assert expiry(3600, now=now) >= now + 3600
