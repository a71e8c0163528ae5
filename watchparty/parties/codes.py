"""Room codes people read aloud and type, and invite tokens people only click.

A room code is short and forgiving: 8 characters from an alphabet without look-alikes (no 0/O,
1/I/L, and no U, which keeps the commonest accidental words out), stored upper-case, looked up
case-insensitively with spaces and dashes ignored. 30^8 is about 6.6e11 codes; uniqueness is the
database's job (a unique column; the service retries the rare collision).

An invite token is a bearer secret in a link: 256 random bits, URL-safe, stored only as its
SHA-256, so a database leak does not leak working invites.
"""

from __future__ import annotations

import hashlib
import secrets

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8
_CODE_CHARS = frozenset(CODE_ALPHABET)
_IGNORED = str.maketrans("", "", " -_\t")


def generate_room_code(length: int = CODE_LENGTH) -> str:
    """A new random room code in canonical (upper-case) form."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalize_room_code(raw: str) -> str | None:
    """The canonical form of what someone typed, or None when it cannot be any room code.

    None lets the lookup answer "not found" without touching the database.
    """
    code = raw.translate(_IGNORED).upper()
    if len(code) != CODE_LENGTH or not _CODE_CHARS.issuperset(code):
        return None
    return code


def format_room_code(code: str) -> str:
    """For display: `ABCD-EFGH` (the dash is ignored when the code is typed back)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def generate_invite_token() -> str:
    """A new invite token (43 URL-safe characters): put it in the link, store its hash."""
    return secrets.token_urlsafe(32)


def hash_invite_token(token: str) -> str:
    """The stored form of an invite token (64 hex characters)."""
    return hashlib.sha256(token.encode()).hexdigest()
