"""Keyset cursors: opaque (AES-GCM), URL-safe, tamper-proof, bound to grant, dataset and query, never expiring.

A genuine cursor of another release of the same walk is a 409 ``release_changed``; anything else
that does not open is one generic 400 ``invalid_cursor`` (docs/pseudonyms.md, "Cursors").
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import string

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from moderation_data.query.cursors import ReleaseChanged
from moderation_data.query.language import cursor_key, decode_cursor, encode_cursor
from moderation_data.releases.pseudonyms import derive_key
from platform_api.errors import InvalidCursor

KEY = hashlib.sha256(b"test cursor key").digest()
BINDING = {"dataset": "moderation-decisions", "release": "2025.1", "grant": 17, "fingerprint": "ab" * 32}
ALPHABET = string.ascii_letters + string.digits + "-_"


def make(last_row_id: int = 123_456, **overrides) -> str:
    return encode_cursor(key=overrides.pop("key", KEY), **{**BINDING, **overrides}, last_row_id=last_row_id)


def read(token, **overrides) -> int:
    return decode_cursor(token, key=overrides.pop("key", KEY), **{**BINDING, **overrides})


def assert_refused(token, **overrides) -> None:
    with pytest.raises(InvalidCursor) as caught:
        read(token, **overrides)
    assert caught.value.code == "invalid_cursor"
    assert caught.value.status_code == 400
    # One generic answer whatever went wrong: no hint which part mismatched.
    assert caught.value.detail == {"path": "cursor"}
    assert caught.value.message == InvalidCursor.default_message


@pytest.mark.parametrize("last_row_id", [0, 1, 255, 123_456, 2**31, 2**63 - 1, 2**64 - 1])
def test_a_cursor_round_trips_its_last_row_id(last_row_id):
    assert read(make(last_row_id)) == last_row_id


def test_a_cursor_is_url_safe_without_padding():
    token = make()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(token) == 58  # 12 nonce + 1 + 8 + len("2025.1") + 16 tag = 43 bytes


def test_a_cursor_hides_its_row_id_and_release():
    # Encryption with a fresh nonce: two cursors of the same page share nothing, and the row id
    # (or the release) cannot be read from the bytes.
    first, second = make(7), make(7)
    assert first != second
    for token in (first, second):
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert (7).to_bytes(8, "big") not in raw and b"2025.1" not in raw
    assert read(first) == read(second) == 7


def test_a_cursor_never_expires():
    # There is no timestamp in the payload: a cursor made today reads the same forever.
    token = make(42)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) == 12 + 1 + 8 + len("2025.1") + 16


def test_changing_any_character_of_a_cursor_is_detected():
    token = make()
    for position in range(len(token)):
        for replacement in "AZaz09-_":
            if replacement != token[position]:
                assert_refused(token[:position] + replacement + token[position + 1 :])


def test_flipping_any_bit_of_the_decoded_cursor_is_detected():
    token = make()
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for index in range(len(raw)):
        for bit in range(8):
            tampered = bytearray(raw)
            tampered[index] ^= 1 << bit
            assert_refused(base64.urlsafe_b64encode(bytes(tampered)).rstrip(b"=").decode())


def test_a_truncated_cursor_is_refused():
    token = make()
    for length in range(len(token)):
        assert_refused(token[:length])


@pytest.mark.parametrize("suffix", ["=", "A", "==", "\n", " "])
def test_a_cursor_with_anything_appended_is_refused(suffix):
    assert_refused(make() + suffix)


def test_a_forged_cursor_with_another_key_is_refused():
    assert_refused(make(key=hashlib.sha256(b"not the key").digest()))


def test_a_cursor_made_by_hand_without_the_key_is_refused():
    # The old format (a clear row id and an HMAC tag) and a guessed AES-GCM body both fail.
    body = bytes([1]) + (10).to_bytes(8, "big")
    assert_refused(base64.urlsafe_b64encode(body + bytes(32)).rstrip(b"=").decode())
    nonce = os.urandom(12)
    guessed = AESGCM(bytes(32)).encrypt(nonce, bytes([2]) + (10).to_bytes(8, "big") + b"2025.1", b"")
    assert_refused(base64.urlsafe_b64encode(nonce + guessed).rstrip(b"=").decode())


@pytest.mark.parametrize(
    "other",
    [
        {"dataset": "another-dataset"},
        {"grant": 18},
        {"grant": "17 "},
        {"fingerprint": "cd" * 32},
    ],
)
def test_a_cursor_used_with_another_grant_dataset_or_query_is_refused(other):
    assert_refused(make(), **other)


def test_a_cursor_of_another_release_of_the_same_walk_says_release_changed():
    with pytest.raises(ReleaseChanged) as caught:
        read(make(), release="2025.2")
    assert (caught.value.status_code, caught.value.code) == (409, "release_changed")
    assert caught.value.detail == {"path": "cursor", "cursor_release": "2025.1", "release": "2025.2"}


def test_the_binding_parts_cannot_be_shifted_between_dataset_grant_and_query():
    token = encode_cursor(key=KEY, dataset="a", release="r", grant="b.c", fingerprint="f", last_row_id=1)
    with pytest.raises(InvalidCursor):
        decode_cursor(token, key=KEY, dataset="a.b", release="r", grant="c", fingerprint="f")


@pytest.mark.parametrize("token", ["", "!!!!", "not base64 at all", "é" * 59, "=" * 59, None, 12, ["x"], {"a": 1}])
def test_garbage_is_refused_as_an_invalid_cursor(token):
    assert_refused(token)


def test_a_cursor_with_an_unknown_format_version_is_refused_even_when_it_decrypts():
    import json

    nonce = os.urandom(12)
    associated = json.dumps(
        ["cursor-v2", BINDING["dataset"], str(BINDING["grant"]), BINDING["fingerprint"]], separators=(",", ":")
    ).encode()
    sealed = AESGCM(KEY).encrypt(nonce, bytes([9]) + (10).to_bytes(8, "big") + b"2025.1", associated)
    assert_refused(base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode())


@pytest.mark.parametrize("last_row_id", [-1, 2**64, True, 1.0, "1"])
def test_encoding_refuses_a_row_id_that_is_not_an_unsigned_64_bit_integer(last_row_id):
    with pytest.raises(ValueError):
        make(last_row_id)


def test_the_cursor_key_is_derived_from_the_pseudonym_master_key_and_version(settings):
    settings.PSEUDONYM_KEY = "11" * 32
    settings.PSEUDONYM_KEY_VERSION = 1
    assert cursor_key() == derive_key("cursor:v1")
    token = make(9, key=cursor_key())
    settings.PSEUDONYM_KEY_VERSION = 2  # rotation invalidates outstanding cursors
    assert_refused(token, key=cursor_key())
    settings.PSEUDONYM_KEY_VERSION = 1
    settings.PSEUDONYM_KEY = "22" * 32
    assert_refused(token, key=cursor_key())
