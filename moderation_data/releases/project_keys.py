"""Per-project pseudonym keys: random, stored wrapped, destroyable (docs/pseudonyms.md, "Crypto-shredding").

A project (a ``ResearchApplication``; its grant reads the data) gets a random 32-byte key on first
use, stored as AES-GCM ciphertext under ``derive_key("project-key-wrap:v<version>")`` with the
project, version and generation as associated data. Destroying the key (admin action or
``manage.py shred_project_keys``) wipes the ciphertext: nothing, not even PSEUDONYM_KEY, can
recompute the pseudonyms the project received. A project whose grant is still usable gets a new
generation on its next request; an ended one is refused.
"""

from __future__ import annotations

import logging
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from moderation_data.releases.models import ProjectKey
from moderation_data.releases.pseudonyms import derive_key
from platform_api.errors import PlatformError

logger = logging.getLogger("moderation_data.releases")

KEY_BYTES = 32
NONCE_BYTES = 12


class ProjectKeyUnavailable(PlatformError):
    code = "project_key_destroyed"
    status_code = 403


def _wrapping(version: int) -> AESGCM:
    return AESGCM(derive_key(f"project-key-wrap:v{int(version)}"))


def _associated_data(project_id: int, version: int, generation: int) -> bytes:
    return f"project-key\0{int(project_id)}\0v{int(version)}\0{int(generation)}".encode("ascii")


def wrap(key: bytes, *, project_id: int, version: int, generation: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _wrapping(version).encrypt(nonce, key, _associated_data(project_id, version, generation))


def unwrap(wrapped: bytes, *, project_id: int, version: int, generation: int) -> bytes:
    wrapped = bytes(wrapped)
    try:
        return _wrapping(version).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _associated_data(project_id, version, generation)
        )
    except (InvalidTag, ValueError):
        raise ProjectKeyUnavailable(
            "This project's pseudonym key cannot be unwrapped (wrong PSEUDONYM_KEY or version)."
        ) from None


def project_key(grant) -> tuple[bytes, int]:
    """(key, generation) of the grant's project under the current key version, made on first use."""
    project_id = grant.application_id
    version = settings.PSEUDONYM_KEY_VERSION
    for _ in range(3):
        found = ProjectKey.objects.active().filter(project_id=project_id, key_version=version).first()
        if found is not None:
            return unwrap(found.wrapped, project_id=project_id, version=version, generation=found.generation), (
                found.generation
            )
        if not grant.is_usable():
            raise ProjectKeyUnavailable(
                "This project's pseudonym key was destroyed when the project ended; its data can no longer be served."
            )
        previous = ProjectKey.objects.filter(project_id=project_id, key_version=version).order_by("-generation")
        generation = (previous.values_list("generation", flat=True).first() or 0) + 1
        key = os.urandom(KEY_BYTES)
        try:
            with transaction.atomic():
                ProjectKey.objects.create(
                    project_id=project_id,
                    key_version=version,
                    generation=generation,
                    wrapped=wrap(key, project_id=project_id, version=version, generation=generation),
                )
        except IntegrityError:  # a concurrent first request made it: use theirs
            continue
        return key, generation
    raise ProjectKeyUnavailable("This project's pseudonym key is being changed; try again.")


@transaction.atomic
def shred_project_keys(project, *, actor: str, reason: str = "") -> int:
    """Destroy every live key of ``project`` (all versions): its pseudonyms can never be recomputed. Audited."""
    from platform_api.audit import record_access_event

    keys = list(ProjectKey.objects.select_for_update().active().filter(project=project))
    now = timezone.now()
    for key in keys:
        key.wrapped = b""
        key.destroyed_at = now
        key.destroyed_reason = reason
        key.save(update_fields=["wrapped", "destroyed_at", "destroyed_reason"])
    from researchers.models import AccessGrant

    grant = AccessGrant.objects.filter(application_id=project.pk).select_related("oauth_client").first()
    record_access_event(
        request_id=f"shred-{uuid.uuid4().hex[:16]}",
        method="SHRED",
        endpoint="shred_project_keys",
        status=200,
        grant=grant,
        client_id=grant.oauth_client.client_id if grant is not None else "",
        query={"project": project.pk, "keys_destroyed": len(keys), "actor": actor, "reason": reason[:200]},
        rows_returned=0,
    )
    logger.warning("project pseudonym keys destroyed", extra={"project": project.pk, "keys": len(keys), "actor": actor})
    return len(keys)
