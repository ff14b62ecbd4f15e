"""The pseudonym master key: where it comes from and whether it is good enough (docs/pseudonyms.md).

Production reads ``PSEUDONYM_KEY`` from the environment and nothing else: settings refuse to
start without it, and ``check --deploy`` fails when it is weak or published. A checkout (the
demo, ``manage.py`` on the embedded servers, ``DJANGO_DEBUG=true``) uses a random key generated
once into ``.local/pseudonym.key`` (mode 0600); the test plugin makes a fresh one per session.
There is no key in the code.

A key is the hex or base64 encoding of at least 32 random bytes (``python -c "import secrets;
print(secrets.token_hex(32))"``). Nothing here imports Django models; settings import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path

MIN_KEY_BYTES = 32
# Fewer distinct byte values than this among the key's bytes is not random (32 random bytes have
# about 30; the chance of fewer than 16 is below 1e-12): "aaaa…", "0123…" repeated, and the like.
MIN_DISTINCT_BYTES = 16
LOCAL_KEY_FILENAME = "pseudonym.key"

# sha256 of every PSEUDONYM_KEY value ever published in this repository (.env.example, docs, old
# settings fallbacks and test constants). tests/platform_api/test_pseudonym_key_settings.py scans
# the repository's text files and fails on any ``PSEUDONYM_KEY=`` value missing from this list.
PUBLISHED_KEY_DIGESTS = frozenset(
    {
        # .env.example placeholders, before and after issue 10
        "613816c829a3b17e2866ed15cfd23e9fb078b2ba322e9178a766de594a569da0",
        "36cb6a284fe153cc71a0613ec6c8225c21050138e372e3a82d93d70d4975673d",
        # the settings fallback and the test plugin's constant before issue 10
        "5e13cbba0bd97a9a8cac4eeaed9ef40cf2721c04382dea078e62e62478a94990",
        "9350b2ce9f818ba270b133408d83f1f75d3beb61ce66bf37e22dfe201310e825",
        # tests/platform_api/test_deploy_check.py before issue 10
        "6b98e1832206522e8e8d66df53646fc3116b32637d0b92d0fa3ebd171a549359",
    }
)

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def digest(value: str) -> str:
    return hashlib.sha256(value.strip().encode("utf-8")).hexdigest()


def decode_key(value: str) -> bytes | None:
    """The key bytes of a hex or base64 (standard or URL-safe) encoded key; None if it is neither."""
    text = value.strip()
    if len(text) % 2 == 0 and _HEX.fullmatch(text):
        return bytes.fromhex(text)
    # Random base64 of 32+ bytes mixes cases (all one case: odds below 1e-9); words and
    # identifiers (CONSTANT_NAMES) that happen to be valid base64 are not keys.
    if _BASE64.fullmatch(text) and re.search(r"[a-z]", text) and re.search(r"[A-Z]", text):
        normalised = text.replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def key_problems(value: str | None) -> list[str]:
    """Why a PSEUDONYM_KEY value must not be used (empty: it is fine). Never echoes the value."""
    if value is None or not value.strip():
        return ["PSEUDONYM_KEY is not set"]
    if digest(value) in PUBLISHED_KEY_DIGESTS:
        return ["PSEUDONYM_KEY is a value published in the repository (a placeholder or an example)"]
    raw = decode_key(value)
    if raw is None:
        return [f"PSEUDONYM_KEY must be the hex or base64 encoding of at least {MIN_KEY_BYTES} random bytes"]
    if len(raw) < MIN_KEY_BYTES:
        return [f"PSEUDONYM_KEY encodes {len(raw)} bytes; it needs at least {MIN_KEY_BYTES} random bytes"]
    if len(set(raw)) < MIN_DISTINCT_BYTES:
        return ["PSEUDONYM_KEY has too little entropy (repeated or patterned bytes): generate a random one"]
    return []


def master_key_bytes(value: str) -> bytes:
    """The bytes every pseudonym, wrapping and cursor key derives from."""
    raw = decode_key(value)
    if raw is None:  # refused in production; a development value is used as text
        raw = value.encode("utf-8")
    return raw


def new_key() -> str:
    return secrets.token_hex(MIN_KEY_BYTES)


def local_pseudonym_key(local_dir: Path) -> str:
    """The checkout's development key: read from ``local_dir/pseudonym.key``, created (0600) on first use.

    The key is written to a private temporary file and linked into place, which fails if the file
    exists: a concurrent first run (web, worker and beat starting together) sees either no file or a
    whole one, never an empty file still being written, and all of them end up with the same key.
    """
    path = Path(local_dir) / LOCAL_KEY_FILENAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd, temporary = tempfile.mkstemp(prefix=f".{LOCAL_KEY_FILENAME}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process made it first: use theirs
            return _read(path)
    finally:
        os.unlink(temporary)
    return key


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if key_problems(key):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{path} does not hold a usable key: delete it to generate a new one")
    return key


def use_local_pseudonym_key_if_unset(local_dir: Path, environ=os.environ) -> None:
    """For checkout entry points (manage.py on the embedded servers, the demo): the local key unless one is set."""
    if not (environ.get("PSEUDONYM_KEY") or "").strip():
        environ["PSEUDONYM_KEY"] = local_pseudonym_key(local_dir)
