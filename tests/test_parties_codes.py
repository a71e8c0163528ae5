"""Room codes and invite tokens."""

from __future__ import annotations

import hashlib
import re

import pytest

from watchparty.parties.codes import (
    CODE_ALPHABET,
    format_room_code,
    generate_invite_token,
    generate_room_code,
    hash_invite_token,
    normalize_room_code,
)


def test_the_alphabet_has_no_look_alikes() -> None:
    assert len(CODE_ALPHABET) == len(set(CODE_ALPHABET)) == 30
    assert not set(CODE_ALPHABET) & set("0O1IL U")


def test_room_codes_are_eight_unambiguous_characters_and_vary() -> None:
    codes = {generate_room_code() for _ in range(2_000)}
    assert len(codes) == 2_000
    for code in codes:
        assert re.fullmatch(f"[{CODE_ALPHABET}]{{8}}", code), code
    # Every character of the alphabet shows up: the generator uses all of it.
    assert set("".join(codes)) == set(CODE_ALPHABET)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("ABCD2345", "ABCD2345"),
        ("abcd2345", "ABCD2345"),
        ("abcd-2345", "ABCD2345"),
        ("  Ab Cd-23 45 ", "ABCD2345"),
        ("ab_cd_23_45", "ABCD2345"),
    ],
)
def test_lookup_forms_are_case_and_separator_insensitive(typed: str, canonical: str) -> None:
    assert normalize_room_code(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    ["", "ABCD234", "ABCD23456", "ABCD0345", "ABCDO345", "ABCD1345", "abcd-234é", "ABC%2345"],
)
def test_impossible_codes_normalize_to_none(typed: str) -> None:
    assert normalize_room_code(typed) is None


def test_a_formatted_code_reads_back() -> None:
    code = generate_room_code()
    shown = format_room_code(code)
    assert shown == f"{code[:4]}-{code[4:]}"
    assert normalize_room_code(shown.lower()) == code


def test_invite_tokens_are_long_url_safe_and_stored_hashed() -> None:
    tokens = {generate_invite_token() for _ in range(500)}
    assert len(tokens) == 500
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
    token = next(iter(tokens))
    assert hash_invite_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_invite_token(token)) == 64
    assert hash_invite_token(token) != hash_invite_token(token + "x")
