"""Keyed pseudonyms: stored once per release, re-keyed per project on the way out.

A release stores *base* pseudonyms, ``HMAC-SHA256(base_key, raw_id)`` truncated to 128 bits, with
``base_key = HMAC(PSEUDONYM_KEY, "release-base:v<version>")``. Researchers never see them: every
value leaving the platform is ``HMAC-SHA256(project_key, base)`` (first 96 bits, hex) with
``project_key = HMAC(PSEUDONYM_KEY, "project:<project_id>")``. Two projects' pseudonyms of one
account are therefore unlinkable without ``PSEUDONYM_KEY``, which never lives in the database.

The same HMAC is available as SQL (PostgreSQL's built-in ``sha256()``, no pgcrypto) so that the
release build and COPY-based exports compute it inside the database.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

BLOCK_SIZE = 64  # SHA-256 block size, bytes
BASE_PSEUDONYM_BYTES = 16  # stored in the release: 32 hex characters
PROJECT_PSEUDONYM_BYTES = 12  # served to researchers: 24 hex characters


def _master_key() -> bytes:
    return settings.PSEUDONYM_KEY.encode("utf-8")


def base_key(version: int | None = None) -> bytes:
    """The key of a release's stored (base) pseudonyms, for a pseudonym-key version."""
    version = settings.PSEUDONYM_KEY_VERSION if version is None else version
    return hmac.new(_master_key(), f"release-base:v{version}".encode(), hashlib.sha256).digest()


def project_key(project_id: str) -> bytes:
    """The per-project secret: derived from PSEUDONYM_KEY, never stored."""
    return hmac.new(_master_key(), f"project:{project_id}".encode(), hashlib.sha256).digest()


def base_pseudonym(raw_id: str, *, version: int | None = None) -> str:
    """Python twin of the SQL the release build runs (used by tests and small tools)."""
    digest = hmac.new(base_key(version), raw_id.encode("utf-8"), hashlib.sha256).digest()
    return digest[:BASE_PSEUDONYM_BYTES].hex()


def project_pseudonym(project_id: str, base: str) -> str:
    """The pseudonym a project sees for a stored base pseudonym (24 hex characters)."""
    digest = hmac.new(project_key(project_id), base.encode("ascii"), hashlib.sha256).digest()
    return digest[:PROJECT_PSEUDONYM_BYTES].hex()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """(key XOR ipad, key XOR opad), the two padded keys of RFC 2104, for HMAC computed in SQL."""
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sql(message_sql: str, key: bytes, *, nbytes: int) -> tuple[str, list]:
    """SQL computing ``hex(HMAC-SHA256(key, message)[:nbytes])``; message_sql must yield text.

    Returns the expression with ``%s`` placeholders and their parameters (the padded keys, as
    bytea); NULL in, NULL out.
    """
    inner, outer = hmac_pads(key)
    sql = (
        f"encode(substring(sha256(%s::bytea || sha256(%s::bytea || convert_to(({message_sql})::text, 'UTF8')))"
        f" from 1 for {int(nbytes)}), 'hex')"
    )
    return sql, [outer, inner]


def base_pseudonym_sql(column_sql: str, *, version: int | None = None) -> tuple[str, list]:
    return hmac_sql(column_sql, base_key(version), nbytes=BASE_PSEUDONYM_BYTES)


def project_pseudonym_sql(column_sql: str, project_id: str) -> tuple[str, list]:
    """A SQL expression equal to ``project_pseudonym(project_id, <column>)``, for COPY-based exports."""
    return hmac_sql(column_sql, project_key(project_id), nbytes=PROJECT_PSEUDONYM_BYTES)
