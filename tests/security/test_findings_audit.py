"""Red-team findings on the audit log (issue 15), replayed: each attack here succeeded before the fix.

- a database writer changes an event (100 rows → 0) and recomputes the (unkeyed) chain after it;
- a database writer deletes the newest events;
- a checkpoint is forged without the key;
- appends serialized every request on one advisory lock.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from platform_api.audit import (
    GENESIS,
    event_hash,
    read_checkpoints,
    record_access_event,
    seal_chain,
    verify_chain,
    verify_log,
    write_checkpoint,
)
from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client


@pytest.fixture(autouse=True)
def _private_checkpoint_file(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "audit" / "checkpoints.jsonl")


def append(n: int, rows: int = 100) -> list[AccessEvent]:
    events = [
        record_access_event(
            request_id=f"attack-{i}",
            method="POST",
            endpoint="/api/v1/datasets/moderation-decisions/releases/2025.1/records",
            status=200,
            dataset="moderation-decisions",
            release="2025.1",
            rows_returned=rows,
        )
        for i in range(n)
    ]
    return events


def as_attacker(*statements: tuple[str, list]) -> None:
    """What someone with the database (not the key) does: triggers off, edit, triggers on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE platform_api_accessevent DISABLE TRIGGER access_event_append_only")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE platform_api_accessevent ENABLE TRIGGER access_event_append_only")


def recompute_unkeyed_chain_from(first_id: int) -> None:
    """Re-hash every event from ``first_id`` on with the public sha256 chain, as the old verifier checked."""
    before = AccessEvent.objects.filter(id__lt=first_id).order_by("-id").values_list("hash", flat=True).first()
    prev = before or GENESIS
    statements = []
    for event in AccessEvent.objects.filter(id__gte=first_id).order_by("id"):
        digest = event_hash(prev, event)
        sql = "UPDATE platform_api_accessevent SET prev_hash=%s, hash=%s WHERE id=%s"
        statements.append((sql, [prev, digest, event.pk]))
        prev = digest
    as_attacker(*statements)


@pytest.mark.django_db(transaction=True)
def test_a_changed_event_with_a_recomputed_unkeyed_chain_is_detected():
    events = append(6)
    seal_chain()
    as_attacker(("UPDATE platform_api_accessevent SET rows_returned = 0 WHERE id = %s", [events[3].pk]))
    recompute_unkeyed_chain_from(events[3].pk)
    # The public chain is consistent again (what fooled the old verifier)...
    changed = AccessEvent.objects.get(pk=events[3].pk)
    assert changed.rows_returned == 0 and changed.hash == event_hash(changed.prev_hash, changed)
    # ...but the keyed seal is not.
    result = verify_log(seal=False)
    assert not result.ok
    assert result.first_broken.pk == events[3].pk
    assert "keyed seal" in result.reason
    with pytest.raises(CommandError, match=rf"broken at event {events[3].pk} .*keyed seal"):
        call_command("verify_audit_log")


@pytest.mark.django_db(transaction=True)
def test_resealing_a_rewritten_tail_through_the_sealer_is_caught_by_the_last_checkpoint():
    events = append(6)
    write_checkpoint()
    # The attacker changes event 4 and marks 4..6 unsealed, hoping the sealer will seal the forgery.
    as_attacker(
        ("UPDATE platform_api_accessevent SET rows_returned = 0 WHERE id = %s", [events[3].pk]),
        (
            "UPDATE platform_api_accessevent SET prev_hash = NULL, hash = NULL, mac = NULL WHERE id >= %s",
            [events[3].pk],
        ),
    )
    result = verify_log()  # seals first, as the periodic task would
    assert verify_chain().ok  # the new seals are valid...
    assert not result.ok  # ...but the head the checkpoint signed is gone
    assert f"event {events[-1].pk}" in result.problem and "rewritten" in result.problem


@pytest.mark.django_db(transaction=True)
def test_deleting_the_newest_events_is_detected_as_truncation_against_the_last_checkpoint():
    events = append(10)
    checkpoint = write_checkpoint()
    assert checkpoint["count"] == 10 and checkpoint["last_id"] == events[-1].pk
    as_attacker(("DELETE FROM platform_api_accessevent WHERE id > %s", [events[4].pk]))
    assert verify_chain().ok  # the remaining chain is intact in itself
    result = verify_log()
    assert not result.ok and "truncated" in result.problem
    with pytest.raises(CommandError, match="truncated"):
        call_command("verify_audit_log")


@pytest.mark.django_db(transaction=True)
def test_deleting_an_event_before_the_checkpoint_head_is_detected():
    events = append(6)
    write_checkpoint()
    as_attacker(("DELETE FROM platform_api_accessevent WHERE id = %s", [events[2].pk]))
    result = verify_log()
    assert not result.ok
    assert result.first_broken.pk == events[3].pk and "removed or inserted" in result.reason


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_forged_without_the_key_is_detected():
    events = append(5)
    write_checkpoint()
    as_attacker(("DELETE FROM platform_api_accessevent WHERE id > %s", [events[2].pk]))
    # The attacker also appends a checkpoint matching the shortened log, signed with a guessed key.
    path = read_checkpoints.__globals__["checkpoint_path"]()
    forged = {"count": 3, "last_id": events[2].pk, "head_hash": AccessEvent.objects.get(pk=events[2].pk).hash}
    forged.update(at="2099-01-01T00:00:00+00:00", signature="0" * 64)
    with open(path, "a") as handle:
        handle.write(json.dumps(forged) + "\n")
    result = verify_log()
    assert not result.ok and "checkpoint 2 has a wrong signature" in result.problem


@pytest.mark.django_db(transaction=True)
def test_checkpoints_go_to_an_append_only_0600_file_and_the_log_stream(caplog):
    caplog.set_level(logging.INFO, logger="platform_api.audit")
    append(3)
    call_command("audit_checkpoint")
    assert write_checkpoint() is None  # the head did not move: nothing new to sign
    append(2)
    call_command("audit_checkpoint")
    path = read_checkpoints.__globals__["checkpoint_path"]()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [c["count"] for c in read_checkpoints()] == [3, 5]
    logged = [r.audit_checkpoint for r in caplog.records if hasattr(r, "audit_checkpoint")]
    assert logged == read_checkpoints()
    assert verify_log().ok


@pytest.mark.django_db(transaction=True)
def test_unsealed_newest_events_are_reported_as_unsealed_not_as_tampering(capsys):
    append(3)
    seal_chain()
    append(2)
    result = verify_log(seal=False)
    assert result.ok and (result.checked, result.unsealed) == (3, 2)
    call_command("verify_audit_log", "--no-seal")
    assert "3 events verified" in capsys.readouterr().out
    call_command("verify_audit_log")
    assert "5 events verified" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_an_append_never_waits_for_another_requests_open_transaction():
    """Before: every append took one advisory lock until commit, serializing all requests."""
    inserted, release = threading.Event(), threading.Event()

    def long_request():
        try:
            with transaction.atomic():
                append(1)
                inserted.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=long_request)
    holder.start()
    assert inserted.wait(60)
    done = threading.Event()

    def other_request():
        try:
            append(1)
            done.set()
        finally:
            connection.close()

    other = threading.Thread(target=other_request)
    other.start()
    finished_while_held = done.wait(60)
    release.set()
    holder.join()
    other.join()
    assert finished_while_held
    assert seal_chain() == 2 and verify_log(seal=False).ok


@pytest.mark.django_db
def test_me_is_one_audited_event():
    client = make_research_client()
    before = AccessEvent.objects.filter(endpoint="/api/v1/me").count()
    assert client.get("/api/v1/me").status_code == 200
    events = AccessEvent.objects.filter(endpoint="/api/v1/me")
    assert events.count() == before + 1
    assert events.first().grant_id == client.grant.pk and events.first().status == 200


@pytest.mark.django_db(transaction=True)
def test_deleting_a_grants_newest_events_fails_its_evidence_file_against_the_last_checkpoint():
    """The evidence file checked only the chain, which stays intact in itself when the newest events are
    deleted: a grant whose activity ends the log could lose its last events and still verify."""
    from researchers.evidence import build_evidence_file

    grant = make_research_client().grant
    events = [
        record_access_event(
            request_id=f"evidence-{i}", method="GET", endpoint="/api/v1/me", status=200, grant=grant,
            client_id=grant.oauth_client.client_id,
        )
        for i in range(6)
    ]  # fmt: skip
    seal_chain()
    write_checkpoint()
    verification = build_evidence_file(grant=grant).manifest["access_events"]["verification"]
    assert verification["ok"] and verification["checkpoints"]["last_checkpoint"]["last_id"] == events[-1].pk
    as_attacker(("DELETE FROM platform_api_accessevent WHERE id > %s", [events[2].pk]))
    verification = build_evidence_file(grant=grant).manifest["access_events"]["verification"]
    assert not verification["ok"] and "truncated" in verification["reason"]
