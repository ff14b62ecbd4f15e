"""Writing and verifying the hash-chained audit log (docs/api.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from platform_api.models import AccessEvent

GENESIS = "0" * 64
# Any constant: the advisory lock that serializes appends so the chain never forks.
_CHAIN_LOCK = 0x5EC0A0D1
# Never recorded, whatever a client sends in its query.
_SECRET_KEYS = {"access_token", "token", "client_secret", "password", "authorization"}
_HASHED_FIELDS = (
    "occurred_at",
    "request_id",
    "grant_id",
    "client_id",
    "method",
    "endpoint",
    "dataset",
    "release",
    "query",
    "rows_returned",
    "status",
)
# Hashed only when set, so events written before the field existed keep their hashes.
_OPTIONAL_HASHED_FIELDS = ("reference",)


def canonical(event: AccessEvent) -> bytes:
    """The bytes an event's hash covers (everything but the hashes), stable across reads."""
    content: dict[str, Any] = {}
    for name in _HASHED_FIELDS:
        value = getattr(event, name)
        if name == "occurred_at":
            value = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        content[name] = value
    for name in _OPTIONAL_HASHED_FIELDS:
        if value := getattr(event, name, ""):
            content[name] = value
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(prev_hash: str, event: AccessEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()


def scrub(query: Any) -> Any:
    """The query as recorded: without anything that looks like a credential."""
    if isinstance(query, dict):
        return {k: scrub(v) for k, v in query.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(query, list):
        return [scrub(v) for v in query]
    return query


def record_access_event(
    *,
    request_id: str,
    method: str,
    endpoint: str,
    status: int,
    grant=None,
    client_id: str = "",
    dataset: str = "",
    release: str = "",
    query: dict | None = None,
    rows_returned: int = 0,
    reference: str = "",
) -> AccessEvent:
    """Append one event to the chain. Atomic; concurrent appends are serialized (no fork)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        prev = AccessEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS
        # Microsecond precision is what PostgreSQL stores; the hash must survive a round trip.
        event = AccessEvent(
            occurred_at=timezone.now(),
            request_id=request_id[:128],
            grant=grant,
            client_id=client_id,
            method=method,
            endpoint=endpoint[:300],
            dataset=dataset,
            release=release,
            query=scrub(query or {}),
            rows_returned=rows_returned,
            status=status,
            reference=reference[:100],
            prev_hash=prev,
        )
        event.hash = event_hash(prev, event)
        event.save(force_insert=True)
    return event


@dataclasses.dataclass(frozen=True)
class Verification:
    checked: int
    first_broken: AccessEvent | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def verify_chain(events: Iterable[AccessEvent] | None = None, *, prev_hash: str = GENESIS) -> Verification:
    """Recompute every hash in order; report the first event whose chain link or content is wrong.

    ``prev_hash`` is the hash the first event must link to: the genesis for the whole chain, the
    preceding event's hash for a range of it (e.g. one grant's activity in an evidence file).
    """
    if events is None:
        events = AccessEvent.objects.order_by("id").iterator(chunk_size=5000)
    prev = prev_hash
    checked = 0
    for event in events:
        if event.prev_hash != prev:
            return Verification(
                checked, event, "its prev_hash does not match the preceding event (removed or inserted)"
            )
        if event.hash != event_hash(prev, event):
            return Verification(checked, event, "its content does not match its hash (modified)")
        prev = event.hash
        checked += 1
    return Verification(checked, None)
