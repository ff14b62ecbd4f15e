"""Bulk exports (docs/exports.md) with a real Celery worker process and real Redis."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from moderation_data.exports.models import Export, ExportChunk
from moderation_data.exports.services import expire_exports, export_storage
from moderation_data.releases.selectors import codebook_fields
from platform_api.models import AccessEvent
from researchers.quotas import export_allowance, usage_today
from tests.api_fixtures import make_research_client
from tests.moderation_data.exports_support import (
    EXPORT_DIR,
    EXPORTS,
    GENEROUS,
    api_rows,
    download,
    read_export,
    request_export,
    use_private_export_dir,
    wait_for_export,
)


@pytest.fixture(autouse=True)
def _private_export_dir(settings):
    use_private_export_dir(settings)


@pytest.fixture(scope="module")
def export_worker(celery_worker_process):
    """The test process's shared worker (tests.conftest.SharedWorker): these tests only need a running one."""
    return celery_worker_process


QUERY = {
    "and": [{"operation": "IN", "field_name": "policy", "field_values": ["hateful_behavior", "harassment_bullying",
                                                                          "spam_fake_engagement", "other"]}],
    "not": [{"operation": "EQ", "field_name": "country", "field_values": ["DE"]}],
}  # fmt: skip
FIELDS = ["decision_id", "account_id", "decided_on", "policy", "content_type", "automated_detection", "country",
          "category_specification", "views_before_action", "appealed"]  # fmt: skip


def error_code(response) -> str:
    return response.json()["error"]["code"]


def allowance_used(grant) -> int:
    return export_allowance(grant)["used"]


def records_charged(grant) -> int:
    return usage_today(grant)["records"]


# ----------------------------------------------------------------------------- round trips (worker)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_format_round_trips_to_the_records_api_rows_pseudonyms_included(fmt, export_worker, release):
    client = make_research_client(**GENEROUS)
    for query, fields in [(None, None), (QUERY, FIELDS)]:
        response = request_export(client, format=fmt, query=query, fields=fields)
        assert response.status_code == 202, response.content
        body = wait_for_export(client, response.json()["id"])
        status, content, _ = download(client, body["id"])
        assert status == 200
        expected = api_rows(client, query=query, fields=fields)
        exported = read_export(fmt, content, codebook_fields(release))
        assert exported == expected
        assert body["row_count"] == len(expected) > 0
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert body["bytes"] == len(content)
    assert Export.objects.filter(format=fmt, status="ready").count() == 2
    # More than one chunk was written and combined, and the part files are gone.
    assert ExportChunk.objects.filter(export__format=fmt).values("export").distinct().count() == 2
    assert ExportChunk.objects.filter(export__format=fmt).count() > 2


@pytest.mark.django_db(transaction=True)
def test_csv_has_a_header_and_parquet_has_typed_columns(export_worker, release):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    client = make_research_client(**GENEROUS)
    csv_id = request_export(client, format="csv", fields=FIELDS).json()["id"]
    parquet_id = request_export(client, format="parquet", fields=FIELDS).json()["id"]
    wait_for_export(client, csv_id)
    wait_for_export(client, parquet_id)
    _, content, response = download(client, csv_id)
    assert content.decode().splitlines()[0] == ",".join(FIELDS)
    # RFC 4180: every line, the header's included, ends in CRLF.
    assert content.endswith(b"\r\n") and content.count(b"\n") == content.count(b"\r\n") > 1
    assert response["Content-Type"].startswith("text/csv")
    _, content, _ = download(client, parquet_id)
    parquet = pq.ParquetFile(io.BytesIO(content))
    schema = parquet.schema_arrow
    assert schema.field("decided_on").type == pa.date32()
    assert schema.field("automated_detection").type == pa.bool_()
    assert schema.field("content_type").type == pa.list_(pa.string())
    assert schema.field("decision_id").type == pa.string()


@pytest.mark.django_db(transaction=True)
def test_a_ready_export_carries_its_manifest_and_file_details(export_worker, release):
    client = make_research_client(**GENEROUS)
    created = request_export(client, format="jsonl", query=QUERY, fields=FIELDS)
    assert created.status_code == 202
    assert created.json()["status"] == "queued" and created.json()["file_url"] is None
    body = wait_for_export(client, created.json()["id"])
    assert body["progress"] == 1.0
    assert body["file_url"].endswith(f"/api/v1/exports/{body['id']}/file")
    assert body["expires_at"] and body["finished_at"]
    manifest = body["manifest"]
    assert manifest["dataset"] == "moderation-decisions"
    assert manifest["release"] == release.version
    assert manifest["release_sha256"] == release.sha256
    assert manifest["query"] == QUERY
    assert manifest["fields"] == FIELDS
    assert manifest["codebook_version"] == release.codebook_version
    assert manifest["pseudonym_key_version"] == release.pseudonym_key_version
    listed = client.get(EXPORTS).json()["data"]
    assert [e["id"] for e in listed] == [body["id"]]


# ----------------------------------------------------------------------------- quota and limits


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_concurrent_export_limit(release):
    client = make_research_client(**{**GENEROUS, "concurrent_exports": 2})
    statuses = _concurrent_posts(client, 8)
    assert sorted(statuses) == [202, 202] + [429] * 6
    assert Export.objects.filter(grant=client.grant).count() == 2
    assert allowance_used(client.grant) == 2 * Export.objects.first().expected_rows


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_export_allowance(release):
    client = make_research_client(
        **{**GENEROUS, "export_rows_per_month": 2 * release.row_count + 10, "concurrent_exports": 9}
    )
    statuses = _concurrent_posts(client, 8)
    assert sorted(statuses) == [202, 202] + [429] * 6
    assert allowance_used(client.grant) == 2 * release.row_count
    refused = client.post(EXPORTS, {"dataset": "moderation-decisions", "format": "csv"})
    assert (refused.status_code, error_code(refused)) == (429, "quota_exceeded")
    assert int(refused["Retry-After"]) >= 1
    assert allowance_used(client.grant) == 2 * release.row_count
    # Exports never spent the daily record quota.
    assert records_charged(client.grant) == 0


def _concurrent_posts(client, n: int) -> list[int]:
    barrier = threading.Barrier(n)

    def post(_):
        http = Client()
        barrier.wait()
        try:
            response = http.post(
                EXPORTS, {"dataset": "moderation-decisions", "format": "csv"},
                content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {client.token}",
            )  # fmt: skip
            if response.status_code == 429:
                assert error_code(response) in ("quota_exceeded", "rate_limited")
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(post, range(n)))


@pytest.mark.django_db(transaction=True)
def test_an_export_larger_than_the_remaining_allowance_is_refused_saying_how_to_ask_for_more(release, settings):
    settings.ACCESS_REQUESTS_EMAIL = "data-access@platform.example"
    client = make_research_client(export_rows_per_month=release.row_count - 1)
    response = request_export(client, format="parquet")
    assert (response.status_code, error_code(response)) == (429, "quota_exceeded")
    error = response.json()["error"]
    assert "data-access@platform.example" in error["message"] and "export allowance" in error["message"]
    assert error["detail"]["window"] == "export_rows_month"
    assert error["detail"]["limit"] == release.row_count - 1
    assert error["detail"]["remaining"] == release.row_count - 1
    assert error["detail"]["rows"] == release.row_count
    assert error["detail"]["reset_at"].endswith("T00:00:00Z")
    assert int(response["Retry-After"]) == error["detail"]["reset_in"] >= 1
    assert not Export.objects.exists()
    assert allowance_used(client.grant) == 0


@pytest.mark.django_db(transaction=True)
def test_a_whole_release_can_be_exported_whatever_the_daily_record_quota(release):
    # Ten records a day would take the pages months; the export allowance is separate.
    client = make_research_client(records_per_day=10)
    response = request_export(client, format="csv")
    assert response.status_code == 202, response.content
    assert response.json()["manifest"]["release"] == release.version
    assert allowance_used(client.grant) == release.row_count
    assert records_charged(client.grant) == 0
    me = client.get("/api/v1/me").json()
    assert me["quotas"]["export_rows_per_month"] == client.grant.export_rows_per_month
    assert me["export_allowance"]["used"] == release.row_count
    usage = client.get("/api/v1/usage").json()
    assert usage["export_allowance"]["remaining"] == client.grant.export_rows_per_month - release.row_count
    # The portal's grant page shows the allowance and what this month's exports used of it.
    portal = Client()
    portal.force_login(client.grant.application.principal_researcher.user)
    page = portal.get("/portal/grants/").content.decode()
    assert f"{client.grant.export_rows_per_month} export rows/month" in page
    assert f"{release.row_count} export rows this month" in page


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_export_refunds_its_reservation(release):
    client = make_research_client(**GENEROUS)
    export_id = request_export(client, format="csv").json()["id"]
    assert allowance_used(client.grant) == release.row_count
    response = client.http.delete(f"{EXPORTS}/{export_id}", HTTP_AUTHORIZATION=f"Bearer {client.token}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert allowance_used(client.grant) == 0
    again = client.http.delete(f"{EXPORTS}/{export_id}", HTTP_AUTHORIZATION=f"Bearer {client.token}")
    assert again.json()["status"] == "cancelled"
    assert allowance_used(client.grant) == 0
    status, _, response = download(client, export_id)
    assert (status, error_code(response)) == (410, "gone")


# ----------------------------------------------------------------------------- downloads


@pytest.mark.django_db(transaction=True)
def test_range_downloads_resume_to_a_byte_identical_file(export_worker, release):
    client = make_research_client(**GENEROUS)
    export_id = request_export(client, format="parquet").json()["id"]
    body = wait_for_export(client, export_id)
    size = body["bytes"]
    status, first, response = download(client, export_id, HTTP_RANGE="bytes=0-999")
    assert status == 206
    assert response["Content-Range"] == f"bytes 0-999/{size}"
    assert response["Content-Length"] == "1000"
    assert response["ETag"] == f'"{body["sha256"]}"'
    # The download is "interrupted"; it resumes from where it stopped, checked with If-Range.
    status, rest, response = download(client, export_id, HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE=f'"{body["sha256"]}"')
    assert status == 206
    assert response["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert hashlib.sha256(first + rest).hexdigest() == body["sha256"]
    status, whole, response = download(client, export_id)
    assert (status, whole) == (200, first + rest)
    assert response["Content-Length"] == str(size) and response["Accept-Ranges"] == "bytes"
    status, tail, _ = download(client, export_id, HTTP_RANGE="bytes=-100")
    assert (status, tail) == (206, whole[-100:])
    status, _, response = download(client, export_id, HTTP_RANGE=f"bytes={size}-")
    assert (status, error_code(response)) == (416, "invalid_request")
    assert response["Content-Range"] == f"bytes */{size}"
    # A stale If-Range (the file changed) gets the whole file.
    status, whole_again, _ = download(client, export_id, HTTP_RANGE="bytes=10-", HTTP_IF_RANGE='"other"')
    assert (status, whole_again) == (200, whole)
    # Every download is an access event.
    downloads = AccessEvent.objects.filter(endpoint=f"{EXPORTS}/{export_id}/file")
    assert downloads.count() == 6
    assert set(downloads.values_list("status", flat=True)) == {200, 206, 416}


@pytest.mark.django_db(transaction=True)
def test_expired_exports_answer_410_and_their_files_are_gone(export_worker, release):
    client = make_research_client(**GENEROUS)
    export_id = request_export(client, format="csv").json()["id"]
    wait_for_export(client, export_id)
    export = Export.objects.get(pk=export_id)
    assert export_storage().exists(export.file_name)
    assert export.expires_at - export.finished_at == dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS)
    Export.objects.filter(pk=export_id).update(expires_at=export.finished_at)
    # Past its date it is gone at once, before the beat task ran...
    status, _, response = download(client, export_id)
    assert (status, error_code(response)) == (410, "gone")
    assert client.get(f"{EXPORTS}/{export_id}").json()["status"] == "expired"
    # ...and the beat task deletes the file (and parts a worker killed right after "ready" left behind).
    leftover = EXPORT_DIR / "parts" / export_id / "00003.csv"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("left behind")
    assert expire_exports() == 1
    assert not export_storage().exists(export.file_name)
    assert not leftover.parent.exists()
    assert Export.objects.get(pk=export_id).status == "expired"
    assert expire_exports() == 0
    status, _, response = download(client, export_id)
    assert (status, error_code(response)) == (410, "gone")


# ----------------------------------------------------------------------------- without a worker


@pytest.mark.django_db
def test_a_file_is_not_ready_before_the_export_is(release, researcher):
    export_id = request_export(researcher, format="csv").json()["id"]
    status, _, response = download(researcher, export_id)
    assert (status, error_code(response)) == (409, "export_not_ready")
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_another_clients_export_is_not_found_on_every_route(release, researcher):
    export_id = request_export(researcher, format="csv").json()["id"]
    other = make_research_client()
    for response in (
        other.get(f"{EXPORTS}/{export_id}"),
        other.get(f"{EXPORTS}/{export_id}/file"),
        other.http.delete(f"{EXPORTS}/{export_id}", HTTP_AUTHORIZATION=f"Bearer {other.token}"),
    ):
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert other.get(EXPORTS).json()["data"] == []
    assert Export.objects.get(pk=export_id).status == "queued"
    assert researcher.get(f"{EXPORTS}/not-a-uuid").status_code == 404


@pytest.mark.django_db
def test_a_token_without_the_exports_scope_is_scope_missing(release):
    records_only = make_research_client(modality="records")
    response = request_export(records_only, format="csv")
    assert (response.status_code, error_code(response)) == (403, "scope_missing")
    narrowed = make_research_client(scope="dataset:moderation-decisions")
    assert error_code(narrowed.get(EXPORTS)) == "scope_missing"


@pytest.mark.django_db
def test_a_dataset_outside_the_tokens_scopes_is_scope_missing(release):
    client = make_research_client(scope="exports dataset:enforcement-summary")
    response = request_export(client, format="csv")
    assert (response.status_code, error_code(response)) == (403, "scope_missing")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"dataset": "moderation-decisions", "format": "xlsx"}, "invalid_request"),
        ({"dataset": "moderation-decisions", "format": "csv", "colour": "red"}, "invalid_request"),
        ({"format": "csv"}, "invalid_request"),
        ({"dataset": "moderation-decisions", "format": "csv", "fields": ["nope"]}, "invalid_query"),
        (
            {"dataset": "moderation-decisions", "format": "csv",
             "query": {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["no_such_policy"]}]}},
            "invalid_query",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_the_error_envelope(release, researcher, body, code):
    response = researcher.post(EXPORTS, body)
    assert response.status_code == 400
    assert error_code(response) == code
    assert response.json()["error"]["request_id"]
    assert not Export.objects.exists()
    assert allowance_used(researcher.grant) == 0


@pytest.mark.django_db
def test_an_unknown_release_is_not_found(release, researcher):
    response = researcher.post(EXPORTS, {"dataset": "moderation-decisions", "release": "1999.01.01", "format": "csv"})
    assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.django_db
def test_export_requests_are_throttled_per_grant(release):
    client = make_research_client(requests_per_minute=2)
    assert client.get(EXPORTS).status_code == 200
    assert client.get(EXPORTS).status_code == 200
    response = client.get(EXPORTS)
    assert (response.status_code, error_code(response)) == (429, "rate_limited")


@pytest.mark.django_db
def test_listing_exports_takes_a_constant_number_of_queries(release, django_assert_max_num_queries):
    client = make_research_client(**GENEROUS, concurrent_exports=10)
    for _ in range(5):
        request_export(client, format="csv")
    # Authentication, throttling and the audit event included; independent of the number of exports.
    with django_assert_max_num_queries(14):
        assert len(client.get(EXPORTS).json()["data"]) == 5


@pytest.mark.django_db
def test_every_export_request_is_an_audit_event(release, researcher):
    request_export(researcher, format="csv", query=QUERY)
    event = AccessEvent.objects.filter(endpoint=EXPORTS, method="POST").get()
    assert event.grant_id == researcher.grant.pk and event.status == 202
    assert event.query["query"] == QUERY and event.dataset == "moderation-decisions"


# ----------------------------------------------------------------------------- admin and Celery settings


@pytest.mark.django_db
def test_admin_lists_exports_and_cancels_them_refunding_the_allowance(release, researcher, admin_client):
    export_id = request_export(researcher, format="parquet").json()["id"]
    page = admin_client.get("/admin/moderation_data/export/")
    assert page.status_code == 200
    assert export_id.encode() in page.content and b"queued" in page.content
    response = admin_client.post(
        "/admin/moderation_data/export/", {"action": "cancel_selected", "_selected_action": [export_id]}
    )
    assert response.status_code == 302
    assert Export.objects.get(pk=export_id).status == "cancelled"
    assert allowance_used(researcher.grant) == 0


@pytest.mark.django_db
def test_staff_who_may_only_view_exports_cannot_cancel_them(release, researcher, client):
    from django.contrib.auth.models import Permission

    from tests.researchers.factories import StaffFactory

    export_id = request_export(researcher, format="csv", query=QUERY).json()["id"]
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="moderation_data", codename="view_export")
    )
    client.force_login(viewer)
    page = client.get("/admin/moderation_data/export/")
    assert page.status_code == 200 and export_id.encode() in page.content
    assert b"cancel_selected" not in page.content
    client.post("/admin/moderation_data/export/", {"action": "cancel_selected", "_selected_action": [export_id]})
    assert Export.objects.get(pk=export_id).status == "queued"
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="moderation_data", codename="change_export")
    )
    client.post("/admin/moderation_data/export/", {"action": "cancel_selected", "_selected_action": [export_id]})
    assert Export.objects.get(pk=export_id).status == "cancelled"


def test_export_tasks_are_acked_late_and_requeued_if_their_worker_dies():
    from moderation_data.exports import tasks as export_tasks
    from platform_api.celery import app

    for task in (export_tasks.run_export_task, export_tasks.run_export_chunk_task, export_tasks.finalize_export_task):
        assert task.acks_late and task.reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    time_limit = settings.CELERY_TASK_TIME_LIMIT
    assert app.conf.task_time_limit == time_limit
    assert 0 < app.conf.task_soft_time_limit < time_limit
    assert app.conf.broker_transport_options["visibility_timeout"] > time_limit
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"moderation_data.expire_exports", "moderation_data.requeue_stuck_exports"} <= schedule


@pytest.mark.django_db(transaction=True)
def test_parquet_files_carry_release_sha256_codebook_query_and_key_version_as_metadata(export_worker, release):
    import io
    import json

    import pyarrow.parquet as pq

    client = make_research_client(**GENEROUS)
    body = wait_for_export(client, request_export(client, format="parquet", query=QUERY).json()["id"])
    _, content, _ = download(client, body["id"])
    metadata = pq.ParquetFile(io.BytesIO(content)).schema_arrow.metadata
    assert metadata[b"moderation_research.release"] == release.version.encode()
    assert metadata[b"moderation_research.release_sha256"] == release.sha256.encode()
    assert metadata[b"moderation_research.codebook_version"] == release.codebook_version.encode()
    assert metadata[b"moderation_research.pseudonym_key_version"] == str(release.pseudonym_key_version).encode()
    assert json.loads(metadata[b"moderation_research.query"]) == QUERY
    assert b"sha256 " + release.sha256.encode() in metadata[b"moderation_research.citation"]
    manifest = json.loads(metadata[b"moderation_research.manifest"])
    assert manifest["citation_metadata"]["version"] == release.version
    # The manifest the API shows carries the same citation.
    assert body["manifest"]["citation"] == manifest["citation"]
    assert body["manifest"]["citation_metadata"]["sha256"] == release.sha256


@pytest.mark.django_db
def test_parquet_keeps_codes_that_look_like_missing_values():
    """Namibia is NA (and Nauru's language na): only COPY's NULL, an unquoted empty cell, is null in
    Parquet, as in CSV, JSONL and the records API; an empty string stays an empty string."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from moderation_data.exports.writers import write_parquet_chunk

    values = ["NA", "N/A", "NULL", "null", "nan", "NaN", "#N/A", "", None]
    schema = pa.schema([("country", pa.string()), ("views", pa.int64())])
    sql = "COPY (SELECT v, CASE WHEN v IS NULL THEN NULL ELSE 1 END FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n) TO STDOUT WITH (FORMAT csv)"  # noqa: E501
    out = io.BytesIO()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        assert write_parquet_chunk(cursor, sql, [values], out, lambda rows: True, schema) == len(values)
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.column("country").to_pylist() == values
    assert table.column("views").to_pylist() == [1] * (len(values) - 1) + [None]
