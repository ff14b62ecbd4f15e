import threading

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from platform_api.audit import GENESIS, record_access_event, seal_chain, verify_chain
from platform_api.models import AccessEvent
from tests.conftest import database_url_of


def append(n: int, **extra) -> list[AccessEvent]:
    """Record ``n`` events, then seal them (as the periodic sealer does) and return them sealed."""
    events = [
        record_access_event(
            request_id=f"req-{i:04d}-{extra.get('tag', 'x')}",
            method="GET",
            endpoint="/api/v1/datasets/moderation-decisions/releases/latest/records",
            status=200,
            dataset="moderation-decisions",
            release="2025.1",
            query={"policy": "violent_extremism", "access_token": "must-not-be-kept"},
            rows_returned=i,
        )
        for i in range(n)
    ]
    if extra.get("seal", True):
        seal_chain()
    return [AccessEvent.objects.get(pk=event.pk) for event in events]


@pytest.mark.django_db
def test_events_form_a_chain_from_genesis():
    events = append(3)
    assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert verify_chain().ok
    assert verify_chain().checked == 3


@pytest.mark.django_db
def test_no_credential_is_recorded_even_if_a_client_sends_one():
    (event,) = append(1)
    event.refresh_from_db()
    assert event.query == {"policy": "violent_extremism"}


@pytest.mark.django_db
def test_update_and_delete_of_an_event_fail_in_the_database():
    (event,) = append(1)
    for statement in ("UPDATE platform_api_accessevent SET status = 500", "DELETE FROM platform_api_accessevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).update(rows_returned=0)
    assert AccessEvent.objects.get(pk=event.pk).rows_returned == 0  # the value it was created with


@pytest.mark.django_db(transaction=True)
def test_truncate_fails_for_an_ordinary_session():
    append(1)
    url = database_url_of(connection.settings_dict)
    with psycopg.connect(url) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("TRUNCATE platform_api_accessevent CASCADE")
    assert AccessEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_chain():
    def worker(tag: str):
        try:
            append(10, tag=tag, seal=False)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert AccessEvent.objects.filter(mac__isnull=True).count() == 60  # appended without waiting for a lock
    assert seal_chain() == 60
    events = list(AccessEvent.objects.order_by("id"))
    assert len(events) == 60
    assert len({e.prev_hash for e in events}) == 60  # every event has its own predecessor
    assert verify_chain().ok


def tamper(sql: str, params: list) -> None:
    """What an attacker with database access would do: switch the trigger off, edit, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE platform_api_accessevent DISABLE TRIGGER access_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE platform_api_accessevent ENABLE TRIGGER access_event_append_only")


@pytest.mark.django_db(transaction=True)
def test_verify_audit_log_names_the_event_whose_content_was_changed():
    events = append(5)
    tamper("UPDATE platform_api_accessevent SET rows_returned = 999 WHERE id = %s", [events[2].pk])
    result = verify_chain()
    assert not result.ok
    assert result.first_broken.pk == events[2].pk
    with pytest.raises(CommandError, match=rf"broken at event {events[2].pk} .*modified"):
        call_command("verify_audit_log")


@pytest.mark.django_db(transaction=True)
def test_verify_audit_log_detects_a_removed_event():
    events = append(4)
    tamper("DELETE FROM platform_api_accessevent WHERE id = %s", [events[1].pk])
    result = verify_chain()
    assert result.first_broken.pk == events[2].pk
    assert "removed or inserted" in result.reason


@pytest.mark.django_db
def test_verify_audit_log_reports_an_intact_log(capsys):
    append(3)
    call_command("verify_audit_log")
    assert "3 events verified" in capsys.readouterr().out
