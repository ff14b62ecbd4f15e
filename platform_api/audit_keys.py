"""The audit chain's key (``AUDIT_CHAIN_KEY``) and where checkpoints are written.

Production sets ``AUDIT_CHAIN_KEY`` (``check --deploy`` fails without it: platform_api.E002). A
checkout without it (demo, development) gets a random key generated once into
``.local/audit-chain.key`` (mode 0600), like the other local secrets. The key never enters the
database: whoever can write the database but not read this key cannot forge the chain.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def local_key_path() -> Path:
    return Path(settings.BASE_DIR) / ".local" / "audit-chain.key"


def _read_or_create(path: Path) -> str:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


@lru_cache(maxsize=4)
def _key_for(configured: str, fallback_path: str) -> bytes:
    if configured:
        return configured.encode()
    key = _read_or_create(Path(fallback_path))
    if len(key) < 32:
        raise ImproperlyConfigured(f"{fallback_path} holds a key shorter than 32 characters")
    return key.encode()


def chain_key() -> bytes:
    """The HMAC key of the audit chain and its checkpoints."""
    return _key_for(settings.AUDIT_CHAIN_KEY, str(local_key_path()))


def checkpoint_path() -> Path:
    """The append-only file of signed checkpoints (``AUDIT_CHECKPOINT_FILE``)."""
    configured = settings.AUDIT_CHECKPOINT_FILE
    return Path(configured) if configured else Path(settings.BASE_DIR) / ".local" / "audit-checkpoints.jsonl"
