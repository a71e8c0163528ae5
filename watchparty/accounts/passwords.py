"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from watchparty.errors import ValidationProblem

MIN_LENGTH = 10
MAX_LENGTH = 128  # bounds hashing cost for hostile input

_hasher = PasswordHasher()
# Verified against when an account does not exist, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")

_COMMON = frozenset(
    {
        "password123",
        "password1234",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "iloveyou123",
        "letmein1234",
        "administrator",
        "passw0rd123",
        "welcome123",
        "watchparty",
        "watchparty1",
        "abcdefghij",
        "0987654321",
        "1111111111",
    }
)


def check_policy(password: str, *, email: str = "", field: str = "password") -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationProblem(f"Password must be at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise ValidationProblem(f"Password must be at most {MAX_LENGTH} characters.", field=field)
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise ValidationProblem("This password is too easy to guess.", field=field)
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        raise ValidationProblem("Password must not contain your email address.", field=field)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
