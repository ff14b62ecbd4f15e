"""Opaque page cursors: AES-GCM, bound to the grant that received them (docs/pseudonyms.md, "Cursors").

A cursor is ``base64url(nonce || AES-GCM(key, plaintext, associated data))`` with

* ``key = HMAC(PSEUDONYM_KEY, "cursor:v<PSEUDONYM_KEY_VERSION>")`` (rotating the master key
  invalidates outstanding cursors);
* plaintext: format version, the last row id (unsigned 64-bit) and the release version;
* associated data: the dataset, the grant id and the query fingerprint.

So a cursor reveals nothing (not even its row id), cannot be altered, and opens only for the grant,
dataset and query it was made for: anything else is one generic 400 ``invalid_cursor`` (no oracle
for which part differed). A genuine cursor of the same walk made on another release of the dataset
(``latest`` moved on) is a 409 ``release_changed`` naming the cursor's release.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platform_api.errors import InvalidCursor, PlatformError

FORMAT_VERSION = 2
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_RELEASE_LENGTH = 64
_MIN_RAW = NONCE_BYTES + 1 + 8 + TAG_BYTES
_MAX_RAW = _MIN_RAW + MAX_RELEASE_LENGTH
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class ReleaseChanged(PlatformError):
    code, status_code = "release_changed", 409
    default_message = "The cursor belongs to another release of this dataset: continue the walk on that version."


def cursor_key() -> bytes:
    """The AES-256 key of cursors, derived from the pseudonym master key and its version."""
    from django.conf import settings

    from moderation_data.releases.pseudonyms import derive_key

    return derive_key(f"cursor:v{settings.PSEUDONYM_KEY_VERSION}")


def _associated_data(dataset: str, grant: int | str, fingerprint: str) -> bytes:
    # JSON keeps the parts unambiguous ("a", "b.c" never reads as "a.b", "c").
    return json.dumps(
        ["cursor-v2", dataset, str(grant), fingerprint], ensure_ascii=True, separators=(",", ":")
    ).encode()


def encode_cursor(
    *, key: bytes, dataset: str, release: str, grant: int | str, fingerprint: str, last_row_id: int
) -> str:
    """An opaque, URL-safe cursor for the page after ``last_row_id``, readable only by this grant and query."""
    if isinstance(last_row_id, bool) or not isinstance(last_row_id, int) or not 0 <= last_row_id < 2**64:
        raise ValueError("last_row_id must be an unsigned 64-bit integer")
    release_bytes = release.encode("utf-8")
    if len(release_bytes) > MAX_RELEASE_LENGTH:
        raise ValueError("release version too long for a cursor")
    plaintext = bytes([FORMAT_VERSION]) + last_row_id.to_bytes(8, "big") + release_bytes
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, _associated_data(dataset, grant, fingerprint))
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def decode_cursor(token: Any, *, key: bytes, dataset: str, release: str, grant: int | str, fingerprint: str) -> int:
    """The last row id of a cursor made by :func:`encode_cursor` for this grant, dataset, query and release."""
    invalid = InvalidCursor(detail={"path": "cursor"})
    if not isinstance(token, str) or not _ALPHABET.fullmatch(token) or len(token) > 4 * _MAX_RAW // 3 + 4:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    # Refuse non-canonical spellings (altered padding bits decode to the same bytes).
    if not _MIN_RAW <= len(raw) <= _MAX_RAW or base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise invalid
    try:
        plaintext = AESGCM(key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(dataset, grant, fingerprint)
        )
    except InvalidTag:
        raise invalid from None
    if plaintext[0] != FORMAT_VERSION:
        raise invalid
    cursor_release = plaintext[9:].decode("utf-8", errors="replace")
    if cursor_release != release:
        raise ReleaseChanged(detail={"path": "cursor", "cursor_release": cursor_release, "release": release})
    return int.from_bytes(plaintext[1:9], "big")
