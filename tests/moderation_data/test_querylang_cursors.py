"""Keyset cursors: opaque, URL-safe, tamper-proof, bound to dataset, release and query, never expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string

import pytest

from moderation_data.query.language import cursor_key, decode_cursor, encode_cursor
from platform_api.errors import InvalidCursor

KEY = hashlib.sha256(b"test cursor key").digest()
BINDING = {"dataset": "moderation-decisions", "release": "2025.1", "fingerprint": "ab" * 32}
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
    assert len(token) == 55


def test_a_cursor_is_deterministic_and_differs_per_row_and_per_binding():
    assert make(7) == make(7)
    assert len({make(7), make(8), make(7, release="2025.2"), make(7, dataset="other"), make(7, fingerprint="cd")}) == 5


def test_a_cursor_never_expires():
    # There is no timestamp in the payload: a cursor made today reads the same forever.
    token = make(42)
    raw = base64.urlsafe_b64decode(token + "=")
    assert len(raw) == 1 + 8 + 32


@pytest.mark.parametrize("position", range(55))
def test_changing_any_character_of_a_cursor_is_detected(position):
    token = make()
    for replacement in ALPHABET:
        if replacement != token[position]:
            assert_refused(token[:position] + replacement + token[position + 1 :])


def test_flipping_any_bit_of_the_decoded_cursor_is_detected():
    raw = base64.urlsafe_b64decode(make() + "=")
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
    assert_refused(make(key=b"not the key"))


def test_a_cursor_made_by_hand_without_the_key_is_refused():
    body = bytes([1]) + (10).to_bytes(8, "big")
    assert_refused(base64.urlsafe_b64encode(body + bytes(32)).rstrip(b"=").decode())


@pytest.mark.parametrize(
    "other",
    [
        {"dataset": "another-dataset"},
        {"release": "2025.2"},
        {"fingerprint": "cd" * 32},
        {"release": "2025.1 "},
    ],
)
def test_a_cursor_used_with_another_dataset_release_or_query_is_refused(other):
    assert_refused(make(), **other)


def test_the_binding_parts_cannot_be_shifted_between_dataset_and_release():
    token = encode_cursor(key=KEY, dataset="a", release="b.c", fingerprint="f", last_row_id=1)
    with pytest.raises(InvalidCursor):
        decode_cursor(token, key=KEY, dataset="a.b", release="c", fingerprint="f")


@pytest.mark.parametrize("token", ["", "!!!!", "not base64 at all", "é" * 55, "=" * 55, None, 12, ["x"], {"a": 1}])
def test_garbage_is_refused_as_an_invalid_cursor(token):
    assert_refused(token)


def test_a_cursor_with_an_unknown_version_is_refused_even_with_a_valid_tag():
    body = bytes([2]) + (10).to_bytes(8, "big")
    import json

    context = json.dumps(["cursor-v1", *BINDING.values()], separators=(",", ":")).encode()
    tag = hmac.new(KEY, context + b"\n" + body, hashlib.sha256).digest()
    assert_refused(base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode())


@pytest.mark.parametrize("last_row_id", [-1, 2**64, True, 1.0, "1"])
def test_encoding_refuses_a_row_id_that_is_not_an_unsigned_64_bit_integer(last_row_id):
    with pytest.raises(ValueError):
        make(last_row_id)


def test_the_cursor_key_is_derived_from_the_secret_key(settings):
    settings.SECRET_KEY = "one secret key for this test"
    expected = hmac.new(b"one secret key for this test", b"cursor-v1", hashlib.sha256).digest()
    assert cursor_key() == expected
    token = make(9, key=cursor_key())
    settings.SECRET_KEY = "another secret key"
    assert_refused(token, key=cursor_key())
