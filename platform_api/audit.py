"""Writing, sealing and verifying the audit log (docs/api.md, "Audit log").

Requests append events without any lock held across the request: an event is inserted *unsealed*
(``prev_hash``, ``hash`` and ``mac`` empty) under a shared advisory lock that lasts only for the
insert's own transaction, so concurrent requests never wait for each other. A single *sealer*
(:func:`seal_chain`: the periodic Celery task, ``audit_checkpoint``, ``verify_audit_log``, the
admin's verify button, evidence files) then links the new events in id order:

- ``hash`` = sha256(prev_hash + canonical JSON of the event): the public chain, which an evidence
  file lets a third party check without any key;
- ``mac`` = HMAC-SHA256(AUDIT_CHAIN_KEY, hash): the keyed seal. The key lives outside the database,
  so someone who can rewrite the database (change an event and recompute every sha256 after it)
  cannot recompute the seals.

Signed *checkpoints* of the sealed head (count, last id, head hash, HMAC signature) are written
outside the database: to the log stream and to an append-only file (``AUDIT_CHECKPOINT_FILE``).
The verifier compares the log with the last checkpoint, so deleting the newest events (which
leaves a shorter, intact-looking chain) is detected as truncation, and a checkpoint forged
without the key is detected by its signature.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from platform_api.audit_keys import chain_key, checkpoint_path
from platform_api.edge import printable
from platform_api.models import AccessEvent

logger = logging.getLogger("platform_api.audit")

GENESIS = "0" * 64
# Appends hold this advisory lock *shared* for their insert only; the sealer takes it exclusively
# for an instant to learn the highest id below which every insert has committed.
_APPEND_LOCK = 0x5EC0A0D1
# Only one sealer at a time (never taken by requests).
_SEAL_LOCK = 0x5EC0A0D2
_SEAL_BATCH = 2000
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
_OPTIONAL_HASHED_FIELDS = ("reference", "bytes_returned")


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


def event_mac(hash_: str) -> str:
    """The keyed seal of an event's (chained) hash."""
    return hmac.new(chain_key(), b"event:" + hash_.encode(), hashlib.sha256).hexdigest()


def scrub(query: Any) -> Any:
    """The query as recorded: without anything that looks like a credential."""
    if isinstance(query, dict):
        return {printable(str(k)): scrub(v) for k, v in query.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(query, list):
        return [scrub(v) for v in query]
    if isinstance(query, str):
        return printable(query)  # PostgreSQL stores no NUL or lone surrogate (platform_api.edge)
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
    bytes_returned: int = 0,
) -> AccessEvent:
    """Append one unsealed event. Concurrent appends never wait for each other (see the module doc)."""
    event = AccessEvent(
        # Microsecond precision is what PostgreSQL stores; the hash must survive a round trip.
        occurred_at=timezone.now(),
        request_id=printable(request_id)[:128],
        grant=grant,
        # Cut to their columns: these can come from the request (a URL's slug has no length limit), and
        # a refused request must still be recorded, not fail on its own audit event.
        client_id=printable(client_id)[:100],
        method=printable(method)[:8],
        endpoint=printable(endpoint)[:300],
        dataset=printable(dataset)[:64],
        release=printable(release)[:64],
        query=scrub(query or {}),
        rows_returned=rows_returned,
        status=status,
        reference=reference[:100],
        bytes_returned=bytes_returned,
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_APPEND_LOCK])
        event.save(force_insert=True)
    return event


def record_after_send(event: dict) -> None:
    """Write the access event of a streamed response once its body went out (a response closer).

    Django swallows an exception raised by a closer; the event must not vanish silently with it.
    """
    try:
        record_access_event(**event)
    except Exception:
        logger.exception(
            "the access event of a sent response could not be written",
            extra={"request_id": event.get("request_id", ""), "endpoint": event.get("endpoint", "")},
        )


def _committed_barrier(attempts: int = 100) -> int | None:
    """The highest event id below which no insert is still in flight (None if inserts never paused).

    Takes the append lock exclusively for an instant, with ``pg_try_advisory_lock``: it never
    queues, so requests never wait behind the sealer, whatever transaction is still open.
    """
    with connection.cursor() as cursor:
        for _ in range(attempts):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_APPEND_LOCK])
            if cursor.fetchone()[0]:
                break
            time.sleep(0.01)
        else:
            logger.warning("audit sealing postponed: appends kept the lock busy")
            return None
        try:
            cursor.execute("SELECT coalesce(max(id), 0) FROM platform_api_accessevent")
            (barrier,) = cursor.fetchone()
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_APPEND_LOCK])
    return int(barrier)


def seal_chain() -> int:
    """Link and seal every committed unsealed event, in id order; returns how many were sealed."""
    barrier = _committed_barrier()
    sealed = 0
    if barrier is None:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
        last = AccessEvent.objects.filter(mac__isnull=False).order_by("-id").values_list("id", "hash").first()
        last_id, prev = last if last else (0, GENESIS)
        while True:
            batch = list(
                AccessEvent.objects.filter(mac__isnull=True, id__gt=last_id, id__lte=barrier).order_by("id")[
                    :_SEAL_BATCH
                ]
            )
            if not batch:
                break
            for event in batch:
                if not event.hash:  # events written before sealing existed are already linked
                    event.prev_hash = prev
                    event.hash = event_hash(prev, event)
                event.mac = event_mac(event.hash)
                prev, last_id = event.hash, event.pk
            AccessEvent.objects.bulk_update(batch, ["prev_hash", "hash", "mac"])
            sealed += len(batch)
    return sealed


@dataclasses.dataclass(frozen=True)
class Verification:
    checked: int
    first_broken: AccessEvent | None
    reason: str = ""
    unsealed: int = 0  # events at the end of the log not sealed yet (not a fault)
    checkpoint: dict | None = None  # the last checkpoint the log was compared with
    problem: str = ""  # a fault found against the checkpoints (truncation, forged checkpoint)

    @property
    def ok(self) -> bool:
        return self.first_broken is None and not self.problem


def verify_chain(events: Iterable[AccessEvent] | None = None, *, prev_hash: str = GENESIS) -> Verification:
    """Recompute every hash and seal in order; report the first event whose link, content or seal is wrong.

    ``prev_hash`` is the hash the first event must link to: the genesis for the whole chain, the
    preceding event's hash for a range of it (e.g. one grant's activity in an evidence file).
    Unsealed events may only form the tail of the log (they are counted, not faults).
    """
    if events is None:
        events = AccessEvent.objects.order_by("id").iterator(chunk_size=5000)
    prev = prev_hash
    checked = unsealed = 0
    for event in events:
        if not event.mac:
            unsealed += 1
            continue
        if unsealed:
            return Verification(checked, event, "a sealed event follows unsealed ones (inserted or resealed)")
        if event.prev_hash != prev:
            return Verification(
                checked, event, "its prev_hash does not match the preceding event (removed or inserted)"
            )
        if event.hash != event_hash(prev, event):
            return Verification(checked, event, "its content does not match its hash (modified)")
        if not hmac.compare_digest(event.mac, event_mac(event.hash)):
            return Verification(
                checked, event, "its keyed seal does not match (modified and re-hashed without the key)"
            )
        prev = event.hash
        checked += 1
    return Verification(checked, None, unsealed=unsealed)


# --------------------------------------------------------------------------- checkpoints


def _signature(body: dict) -> str:
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(chain_key(), b"checkpoint:" + payload, hashlib.sha256).hexdigest()


def _head() -> dict:
    last = AccessEvent.objects.filter(mac__isnull=False).order_by("-id").values_list("id", "hash").first()
    last_id, head = last if last else (0, GENESIS)
    return {"count": AccessEvent.objects.filter(id__lte=last_id).count(), "last_id": last_id, "head_hash": head}


def read_checkpoints(path: Path | None = None) -> list[dict]:
    """Every line of the checkpoint file, parsed (a line that is not JSON is kept as ``{"raw": ...}``)."""
    path = path or checkpoint_path()
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text().splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"raw": raw})
    return lines


def write_checkpoint(*, force: bool = False) -> dict | None:
    """Seal, then append a signed checkpoint of the sealed head to the file and the log stream.

    Nothing is written when the head did not move since the last checkpoint (unless ``force``).
    """
    seal_chain()
    body = {**_head(), "at": timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds")}
    path = checkpoint_path()
    previous = read_checkpoints(path)
    if not force and previous and previous[-1].get("last_id") == body["last_id"]:
        return None
    checkpoint = {**body, "signature": _signature(body)}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(checkpoint, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info("audit checkpoint", extra={"audit_checkpoint": checkpoint})
    return checkpoint


def check_against_checkpoints(checkpoints: list[dict]) -> tuple[dict | None, str]:
    """The last checkpoint and what is wrong with the log against them ("" if nothing)."""
    last = None
    for number, checkpoint in enumerate(checkpoints, start=1):
        body = {k: checkpoint.get(k) for k in ("count", "last_id", "head_hash", "at")}
        signature = str(checkpoint.get("signature", ""))
        if "raw" in checkpoint or not hmac.compare_digest(signature, _signature(body)):
            return checkpoint, f"checkpoint {number} has a wrong signature (forged or altered)"
        last = checkpoint
    if last is None:
        return None, ""
    last_id, count = int(last["last_id"]), int(last["count"])
    if last_id == 0:
        return last, ""
    event = AccessEvent.objects.filter(pk=last_id).values_list("hash", "mac").first()
    if event is None:
        return last, f"event {last_id}, the head of the last checkpoint ({last['at']}), is missing (truncated)"
    if event[0] != last["head_hash"] or not event[1]:
        return last, f"event {last_id} no longer has the hash the last checkpoint ({last['at']}) signed (rewritten)"
    now = AccessEvent.objects.filter(id__lte=last_id).count()
    if now != count:
        return last, f"{count} events up to {last_id} at the last checkpoint ({last['at']}), {now} now (removed)"
    return last, ""


def verify_log(*, seal: bool = True) -> Verification:
    """The whole log: seal what is committed, verify the chain, compare it with the last checkpoint."""
    if seal:
        seal_chain()
    result = verify_chain()
    checkpoint, problem = check_against_checkpoints(read_checkpoints())
    return dataclasses.replace(result, checkpoint=checkpoint, problem=problem)
