"""Keyed pseudonyms: a base pseudonym stored in each release, re-keyed per project on the way out.

The scheme (docs/pseudonyms.md):

* **Base** (stored in the release table): ``HMAC-SHA256(base_key(kind), kind || 0x00 || raw_id)``,
  first 128 bits, with ``base_key(kind) = HMAC(master, "release-base:v<version>:<kind>")``. Kinds
  are ``decision``, ``account`` and ``content``: two ids of different kinds never collide.
* **Project** (what a researcher sees): ``HMAC-SHA256(project_key, kind || 0x00 || scope || 0x00 ||
  base)``, first 96 bits, where ``project_key`` is a random 32-byte key of the project
  (``ProjectKey``, stored wrapped with AES-GCM under a key derived from the master key) and
  ``scope`` is the release (``release:<id>``) for decisions and contents, and for accounts unless
  the grant has ``longitudinal_linkage`` (then ``series``: an account keeps its pseudonym across
  the project's releases of one key version).

Key material never enters SQL text (so never ``pg_stat_activity``, a statement log or an error's
``STATEMENT:`` line): HMAC pads are loaded with ``COPY ... FROM STDIN`` into the session's
temporary table ``pg_temp.pseudonym_pads`` and SQL refers to them by an opaque handle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from django.conf import settings

from platform_api import local_secrets

BLOCK_SIZE = 64  # SHA-256 block size, bytes
BASE_PSEUDONYM_BYTES = 16  # stored in the release: 32 hex characters
PROJECT_PSEUDONYM_BYTES = 12  # served to researchers: 24 hex characters
KINDS = ("decision", "account", "content")
LINKED_SCOPE = "series"
PADS_TABLE = "pg_temp.pseudonym_pads"


def master_key() -> bytes:
    return local_secrets.master_key_bytes(settings.PSEUDONYM_KEY)


def derive_key(label: str) -> bytes:
    """A key for one purpose, derived from the master key (HMAC as a PRF: labels never collide)."""
    return hmac.new(master_key(), label.encode("utf-8"), hashlib.sha256).digest()


def key_fingerprint(version: int | None = None) -> str:
    """16 hex characters identifying the master key (and version) in manifests; reveals nothing of it."""
    version = settings.PSEUDONYM_KEY_VERSION if version is None else version
    return derive_key(f"fingerprint:v{version}")[:8].hex()


def _check_kind(kind: str) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown pseudonym kind {kind!r}")
    return kind.encode("ascii") + b"\0"


# --- base pseudonyms (stored in a release) -------------------------------------------------------


def base_key(kind: str, version: int | None = None) -> bytes:
    """The key of a release's stored (base) pseudonyms of one kind, for a pseudonym-key version."""
    _check_kind(kind)
    version = settings.PSEUDONYM_KEY_VERSION if version is None else version
    return derive_key(f"release-base:v{version}:{kind}")


def base_pseudonym(raw_id: str, *, kind: str = "decision", version: int | None = None) -> str:
    """Python twin of the SQL the release build runs (tests and small tools)."""
    message = _check_kind(kind) + raw_id.encode("utf-8")
    return hmac.new(base_key(kind, version), message, hashlib.sha256).digest()[:BASE_PSEUDONYM_BYTES].hex()


def load_base_pads(cursor, *, version: int | None = None) -> None:
    """Make ``base_pseudonym_sql`` usable on this connection (the release build calls it once)."""
    ensure_pads(cursor, [base_key(kind, version) for kind in KINDS])


def base_pseudonym_sql(column_sql: str, *, kind: str, version: int | None = None) -> tuple[str, list]:
    """SQL for ``base_pseudonym(<column>, kind=kind)``; needs ``load_base_pads`` on the connection first."""
    return hmac_sql(column_sql, base_key(kind, version), prefix=_check_kind(kind), nbytes=BASE_PSEUDONYM_BYTES)


# --- project pseudonyms (what leaves the platform) -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProjectPseudonyms:
    """How one grant's rows of one release are pseudonymized: its project key and scopes."""

    key: bytes = dataclasses.field(repr=False)
    generation: int
    release_scope: str
    account_scope: str

    def scope(self, kind: str) -> str:
        return self.account_scope if kind == "account" else self.release_scope

    def prefix(self, kind: str) -> bytes:
        return _check_kind(kind) + self.scope(kind).encode("ascii") + b"\0"

    def pseudonym(self, kind: str, base: str) -> str:
        digest = hmac.new(self.key, self.prefix(kind) + base.encode("ascii"), hashlib.sha256).digest()
        return digest[:PROJECT_PSEUDONYM_BYTES].hex()

    def sql(self, column_sql: str, kind: str) -> tuple[str, list]:
        """SQL equal to ``pseudonym(kind, <column>)``; needs ``self.load(cursor)`` on the connection first."""
        return hmac_sql(column_sql, self.key, prefix=self.prefix(kind), nbytes=PROJECT_PSEUDONYM_BYTES)

    def load(self, cursor) -> None:
        ensure_pads(cursor, [self.key])


def release_scope(release) -> str:
    return f"release:{int(release.pk)}"


def for_grant(grant, release) -> ProjectPseudonyms:
    """The pseudonyms ``grant`` gets for ``release``: its project's current key (created on first use)."""
    from moderation_data.releases.project_keys import project_key

    key, generation = project_key(grant)
    scope = release_scope(release)
    linked = getattr(grant, "longitudinal_linkage", False)
    return ProjectPseudonyms(
        key=key, generation=generation, release_scope=scope, account_scope=LINKED_SCOPE if linked else scope
    )


def kind_of(field_name: str) -> str:
    """The id kind of a pseudonym field of the codebook (``decision_id`` → ``decision``)."""
    kind = field_name.removesuffix("_id")
    _check_kind(kind)
    return kind


# --- HMAC in SQL, keys out of the SQL text ---------------------------------------------------------


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """(key XOR ipad, key XOR opad), the two padded keys of RFC 2104, for HMAC computed in SQL."""
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pad_handle(key: bytes) -> str:
    """The opaque name of a key's pads in ``pg_temp.pseudonym_pads`` (one-way: reveals nothing of the key)."""
    return hmac.new(key, b"pseudonym-pad-handle", hashlib.sha256).digest()[:12].hex()


def ensure_pads(cursor, keys: list[bytes]) -> None:
    """Load the pads of ``keys`` into this session's temporary table, with COPY (its data is never logged).

    Checked against the table every time rather than remembered: a rolled-back transaction takes
    the table or its rows with it, and the next call simply loads them again.
    """
    raw = getattr(cursor, "cursor", cursor)  # Django's cursor wrapper, or a psycopg cursor
    handles = {pad_handle(key): key for key in keys}
    raw.execute("SELECT to_regclass(%s)", [PADS_TABLE])
    if raw.fetchone()[0] is None:
        raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS pseudonym_pads"
            " (handle text PRIMARY KEY, ipad bytea NOT NULL, opad bytea NOT NULL)"
        )
        present: set[str] = set()
    else:
        raw.execute(f"SELECT handle FROM {PADS_TABLE} WHERE handle = ANY(%s)", [list(handles)])  # noqa: S608
        present = {row[0] for row in raw.fetchall()}
    missing = [handle for handle in handles if handle not in present]
    if missing:
        with raw.copy(f"COPY {PADS_TABLE} (handle, ipad, opad) FROM STDIN") as copy:
            for handle in missing:
                copy.write_row((handle, *hmac_pads(handles[handle])))


def hmac_sql(message_sql: str, key: bytes, *, prefix: bytes = b"", nbytes: int) -> tuple[str, list]:
    """SQL computing ``hex(HMAC-SHA256(key, prefix || utf8(message))[:nbytes])``; NULL in, NULL out.

    The pads are read from ``pg_temp.pseudonym_pads`` by handle (load them with ``ensure_pads``):
    the parameters are the handle and the (public) prefix, never the key.
    """
    handle = pad_handle(key)
    # The table is ours and every value is a parameter.
    # Pads not loaded must fail loudly, never make NULL pseudonyms: the fallback divides by zero, and
    # only when reached (an InitPlan runs when first needed; a constant would be folded at planning).
    missing = f"int4send(1 / (SELECT count(*)::int FROM {PADS_TABLE} WHERE false))"  # noqa: S608
    opad = f"coalesce((SELECT opad FROM {PADS_TABLE} WHERE handle = %s), {missing})"  # noqa: S608
    ipad = f"coalesce((SELECT ipad FROM {PADS_TABLE} WHERE handle = %s), {missing})"  # noqa: S608
    sql = (
        f"encode(substring(sha256({opad} || sha256({ipad} || %s::bytea"
        f" || convert_to(({message_sql})::text, 'UTF8'))) from 1 for {int(nbytes)}), 'hex')"
    )
    return sql, [handle, handle, prefix]
