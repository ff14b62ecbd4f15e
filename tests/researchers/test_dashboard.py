"""The researcher's dashboard: exports with their files, usage against each quota, credential ages, releases."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from moderation_data.exports import services as exports
from moderation_data.exports.models import Export
from platform_api.audit import record_access_event
from platform_api.models import AccessEvent
from researchers import quotas, services
from researchers.dashboard import USAGE_DAYS, usage_chart
from researchers.models import AccessGrant
from tests.researchers.conftest import obtain_token
from tests.researchers.factories import ResearcherFactory, StaffFactory, make_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant(release):
    application = make_application(status="submitted", modality_requested="records_and_exports")
    return services.approve_application(application, reviewer=StaffFactory())


@pytest.fixture
def owner(client, grant):
    client.force_login(grant.application.principal_researcher.user)
    return client


@pytest.fixture
def stored_files():
    names: list[str] = []
    yield names
    for name in names:
        exports.export_storage().delete(name)


def ready_export(
    grant, release, stored_files, *, content: bytes = b"decision_id,policy\r\na,b\r\n", **fields
) -> Export:
    """A finished export with its file in the exports storage (as finalize_export leaves it)."""
    name = exports.export_storage().save(f"portal-test-{uuid.uuid4().hex}.csv", ContentFile(content))
    stored_files.append(name)
    values = {
        "grant": grant,
        "release": release,
        "format": "csv",
        "fields": ["decision_id", "policy"],
        "status": Export.Status.READY,
        "row_count": 1,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "file_name": name,
        "finished_at": timezone.now(),
        "expires_at": timezone.now() + dt.timedelta(days=7),
        **fields,
    }
    return Export.objects.create(**values)


# --------------------------------------------------------------------------- exports
def test_the_dashboard_lists_exports_with_status_size_sha256_expiry_and_a_download_link(
    owner, grant, release, stored_files
):
    export = ready_export(grant, release, stored_files)
    queued = Export.objects.create(grant=grant, release=release, format="parquet", fields=[], status="queued")
    page = owner.get("/portal/dashboard/").text
    row = re.search(rf'<tr data-export="{export.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "ready" in row and export.sha256 in row and f"{export.bytes}\xa0bytes" in row
    assert export.expires_at.strftime("%Y-%m-%d") in row
    assert f'href="/portal/exports/{export.pk}/download/"' in row
    queued_row = re.search(rf'<tr data-export="{queued.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "queued" in queued_row and "/download/" not in queued_row
    assert "/api/v1/exports/EXPORT_ID/file" in page  # the scripted way, with a token


def test_the_portal_download_streams_the_same_file_and_writes_an_access_event(owner, grant, release, stored_files):
    content = b"decision_id,policy\r\n" + b"x,violent_extremism\r\n" * 1000
    export = ready_export(grant, release, stored_files, content=content, row_count=1000)
    response = owner.get(f"/portal/exports/{export.pk}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == content and hashlib.sha256(body).hexdigest() == export.sha256
    assert response["Content-Length"] == str(len(content)) and response["ETag"] == f'"{export.sha256}"'
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert "no-store" in response["Cache-Control"]
    event = AccessEvent.objects.get(endpoint=f"/portal/exports/{export.pk}/download/")
    assert event.grant_id == grant.pk and event.status == 200 and event.rows_returned == 1000
    assert event.client_id == grant.oauth_client.client_id and event.query["via"] == "portal"


def test_the_dashboard_shows_this_months_export_allowance(owner, grant, release, stored_files):
    ready_export(grant, release, stored_files, row_count=1200, expected_rows=1200)
    page = owner.get("/portal/dashboard/").text
    allowance = re.search(rf'id="export-allowance-{grant.pk}">([^<]*)<', page).group(1)
    limit = grant.export_rows_per_month
    used = quotas.export_allowance(grant)["used"]
    assert used > 0
    assert allowance == f"{used:,} of {limit:,} rows exported, {limit - used:,} left"


def test_another_researchers_export_is_not_found(client, grant, release, stored_files):
    export = ready_export(grant, release, stored_files)
    client.force_login(ResearcherFactory().user)
    assert client.get(f"/portal/exports/{export.pk}/download/").status_code == 404
    assert str(export.pk) not in client.get("/portal/dashboard/").text
    client.logout()
    response = client.get(f"/portal/exports/{export.pk}/download/")
    assert response.status_code == 302 and response["Location"].startswith("/portal/login/")
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"status": "running"}, 409, "not ready yet"),
        ({"expires_at": timezone.now() - dt.timedelta(minutes=1)}, 410, "expired"),
        ({"status": "failed"}, 410, "failed"),
    ],
)
def test_an_export_without_a_servable_file_is_refused_and_audited(
    owner, grant, release, stored_files, change, status, message
):
    export = ready_export(grant, release, stored_files, **change)
    response = owner.get(f"/portal/exports/{export.pk}/download/")
    assert response.status_code == status and message in response.text
    assert AccessEvent.objects.get().status == status


def test_a_suspended_grant_cannot_download_its_exports_in_the_portal(owner, grant, release, stored_files):
    export = ready_export(grant, release, stored_files)
    services.suspend_grant(grant, actor=StaffFactory(), reason="audit")
    response = owner.get(f"/portal/exports/{export.pk}/download/")
    assert response.status_code == 403
    assert AccessEvent.objects.get().rows_returned == 0


def test_the_dashboard_does_not_run_more_queries_with_more_exports(owner, grant, release, stored_files):
    ready_export(grant, release, stored_files)
    owner.get("/portal/dashboard/")  # warm: counters and caches filled the first time
    with CaptureQueriesContext(connection) as few:
        owner.get("/portal/dashboard/")
    for _ in range(5):
        ready_export(grant, release, stored_files)
    with CaptureQueriesContext(connection) as many:
        owner.get("/portal/dashboard/")
    assert len(many) == len(few)


# --------------------------------------------------------------------------- usage
def _event(grant, *, at: dt.datetime, rows: int, status: int = 200) -> None:
    # Backdated events cannot come from record_access_event (it stamps now): insert them as the log would.
    AccessEvent.objects.create(
        occurred_at=at,
        request_id=uuid.uuid4().hex,
        grant=grant,
        client_id=grant.oauth_client.client_id,
        method="POST",
        endpoint="/api/v1/datasets/moderation-decisions/releases/latest/records",
        status=status,
        rows_returned=rows,
        prev_hash="0" * 64,
        hash=uuid.uuid4().hex * 2,
    )


def test_usage_of_the_last_30_days_is_drawn_against_each_quota(owner, grant):
    now = timezone.now()
    for rows in (400, 600):
        record_access_event(
            request_id=uuid.uuid4().hex,
            method="GET",
            endpoint="/api/v1/datasets/moderation-decisions/releases/latest/records",
            status=200,
            grant=grant,
            rows_returned=rows,
        )
    _event(grant, at=now - dt.timedelta(days=10), rows=70)
    _event(grant, at=now - dt.timedelta(days=10), rows=0, status=429)  # refused: counted by no quota
    _event(grant, at=now - dt.timedelta(days=45), rows=999)  # older than the chart
    page = owner.get("/portal/dashboard/").text
    for unit, quota in (("requests", "1,000"), ("records", "100,000")):
        figure = re.search(rf'<figure class="chart" id="chart-{grant.pk}-{unit}">(.*?)</figure>', page, re.S).group(1)
        assert figure.count('<rect class="bar') == USAGE_DAYS
        assert f"against the quota of {quota}:" in figure
    today = now.astimezone(dt.UTC).date()
    ten_days_ago = (now - dt.timedelta(days=10)).astimezone(dt.UTC).date()
    assert f"<td>{today:%Y-%m-%d}</td><td>2</td><td>1,000</td>" in page
    assert f"<td>{ten_days_ago:%Y-%m-%d}</td><td>1</td><td>70</td>" in page
    # The event older than the chart is in no day and no total (as a number: tokens on the page are random).
    long_ago = (now - dt.timedelta(days=45)).astimezone(dt.UTC).date()
    assert f"<td>{long_ago:%Y-%m-%d}</td>" not in page
    assert not re.search(r"(?<![\w,.-])999(?![\w,.-])", page)
    assert f"{today:%Y-%m-%d}: 1,000 records" in page
    # 1,000 of 100,000 records is too small a share to draw against the quota: the caption says so.
    assert "the busiest day used 1% of it" in page


def test_a_quota_nearly_used_up_is_drawn_as_a_line(owner, grant):
    AccessGrant.objects.filter(pk=grant.pk).update(records_per_day=1200)
    record_access_event(
        request_id=uuid.uuid4().hex,
        method="GET",
        endpoint="/api/v1/datasets/moderation-decisions/releases/latest/records",
        status=200,
        grant=grant,
        rows_returned=1000,
    )
    page = owner.get("/portal/dashboard/").text
    figure = re.search(rf'<figure class="chart" id="chart-{grant.pk}-records">(.*?)</figure>', page, re.S).group(1)
    assert '<line class="quota"' in figure and "the dashed line is the quota of 1,200" in figure


def test_a_day_over_the_quota_is_marked_and_the_quota_line_stays_in_the_picture():
    days = [dt.date(2025, 1, d) for d in range(1, 31)]
    chart = usage_chart("Records per day", "records", 100, {days[3]: 250, days[4]: 50}, days)
    assert [bar.over for bar in chart.bars].count(True) == 1
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.day == days[3] and tallest.y == 0 and tallest.height == chart.height
    assert chart.quota_y == pytest.approx(chart.height * (1 - 100 / 250))
    assert chart.bars[4].height == pytest.approx(chart.height * 50 / 250)
    assert chart.total == 300 and chart.peak == 250


def test_light_use_of_a_large_quota_is_drawn_against_the_busiest_day_and_no_day_with_use_looks_empty():
    days = [dt.date(2025, 1, d) for d in range(1, 31)]
    chart = usage_chart("Requests per day", "requests", 1_000_000, {days[0]: 8, days[1]: 4, days[2]: 0}, days)
    assert chart.quota_y is None and chart.scale_top == 8
    assert chart.bars[0].height == chart.height and chart.bars[1].height == pytest.approx(chart.height / 2)
    assert chart.bars[2].height == 0
    tiny = usage_chart("Records per day", "records", 100, {days[0]: 100, days[1]: 1}, days)
    assert tiny.bars[1].height >= 1.5 and tiny.quota_y == 0


# --------------------------------------------------------------------------- credentials and releases
def test_the_dashboard_shows_the_age_of_the_secret_and_the_newest_token(owner, grant):
    page = owner.get("/portal/dashboard/").text
    assert re.search(rf'id="secret-age-{grant.pk}">not collected yet', page)
    assert re.search(rf'id="token-age-{grant.pk}">none issued yet', page)
    secret = services.rotate_client_secret(grant, actor=grant.application.principal_researcher.user)
    assert obtain_token(owner, grant.oauth_client.client_id, secret).status_code == 200
    page = owner.get("/portal/dashboard/").text
    grant.refresh_from_db()
    assert re.search(
        rf'id="secret-age-{grant.pk}">issued \d+\xa0minutes? ago \({grant.secret_issued_at:%Y-%m-%d}\)', page
    )
    assert re.search(rf'id="token-age-{grant.pk}">last issued \d+\xa0minutes? ago; expires in \d+\xa0minutes?', page)


def test_the_dashboard_lists_the_releases_the_grant_can_read(owner, grant, release):
    page = owner.get("/portal/dashboard/").text
    entry = re.search(rf'<li class="release" id="release-{release.pk}">(.*?)</li>', page, re.S).group(1)
    assert f"<strong>{release.version}</strong> (latest)" in entry
    assert f"{release.row_count:,} rows" in entry and release.sha256 in entry
    assert release.period_end.strftime("%Y-%m-%d") in entry


def test_a_researcher_without_grants_sees_how_to_get_access(client):
    client.force_login(ResearcherFactory().user)
    assert "No access yet" in client.get("/portal/dashboard/").text
