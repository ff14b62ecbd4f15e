"""The portal's export download checks the right to the file as the API does (review finding), replayed:

- after a release was withdrawn, or staff removed the dataset from the grant (or deactivated it), or
  the grant's modality stopped allowing exports, ``GET /api/v1/exports/{id}/file`` refused the file
  but ``GET /portal/exports/{id}/download/`` still streamed it (it checked only the grant's status,
  modality, expiry and the export's status);
- the portal's access event left out the grant's DSC ``reference`` and the bytes sent, which the
  API's event records.

Both downloads now go through ``exports.check_still_entitled``; the portal answers the API's status
as a web page and audits every refusal. Exports are requested over the API and run in-process (the
same services a worker runs), as in tests/security/test_findings_exports.py.
"""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from moderation_data.catalog.models import Dataset
from moderation_data.exports import services
from moderation_data.exports.models import Export, ExportChunk
from moderation_data.releases.services import withdraw_release
from platform_api.models import AccessEvent
from researchers import views
from researchers.models import AccessGrant, Modality
from tests.api_fixtures import make_research_client
from tests.moderation_data.exports_support import EXPORTS, GENEROUS, download, request_export
from tests.researchers.dsc_support import dsc_research_client

pytestmark = pytest.mark.django_db

AUDITED = ("grant_id", "client_id", "dataset", "release", "reference", "rows_returned", "bytes_returned", "status")


@pytest.fixture(autouse=True)
def _private_export_dir(settings, tmp_path):
    options = {**settings.STORAGES["exports"]["OPTIONS"], "location": str(tmp_path / "exports")}
    settings.STORAGES = {**settings.STORAGES, "exports": {**settings.STORAGES["exports"], "OPTIONS": options}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ready_export(researcher) -> Export:
    """Request an export over the API and run it here, step by step, as a worker would."""
    response = request_export(researcher, format="csv")
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    services.run_export(export_id)
    for chunk in ExportChunk.objects.filter(export_id=export_id).order_by("index"):
        services.run_export_chunk(export_id, chunk.index)
    services.finalize_export(export_id)
    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.READY and export.row_count
    return export


def portal_of(researcher) -> Client:
    """The browser of the grant's principal researcher, logged in to the portal."""
    browser = Client()
    browser.force_login(researcher.grant.application.principal_researcher.user)
    return browser


def portal_download(browser: Client, export: Export):
    response = browser.get(f"/portal/exports/{export.pk}/download/")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content, response


def portal_events(export: Export):
    return AccessEvent.objects.filter(endpoint=f"/portal/exports/{export.pk}/download/").order_by("id")


def api_events(export: Export):
    return AccessEvent.objects.filter(endpoint=f"{EXPORTS}/{export.pk}/file").order_by("id")


def test_a_dataset_removed_from_the_grant_can_no_longer_be_downloaded_in_the_portal(release):
    researcher = make_research_client(**GENEROUS)
    export = ready_export(researcher)
    browser = portal_of(researcher)
    assert portal_download(browser, export)[0] == 200
    researcher.grant.datasets.remove(Dataset.objects.get(slug="moderation-decisions"))  # staff narrow the grant
    status, body, response = portal_download(browser, export)
    assert status == 403 and not response.streaming
    assert "no longer covers the dataset moderation-decisions" in body.decode()
    assert download(researcher, export.pk)[0] == 403  # the API's answer to the same question
    refused = portal_events(export).last()
    assert (refused.status, refused.rows_returned, refused.bytes_returned) == (403, 0, 0)
    assert refused.grant_id == researcher.grant.pk and refused.query == {"export": str(export.pk), "via": "portal"}


def test_a_deactivated_dataset_can_no_longer_be_downloaded_in_the_portal(release):
    researcher = make_research_client(**GENEROUS)
    export = ready_export(researcher)
    Dataset.objects.filter(slug="moderation-decisions").update(is_active=False)  # staff deactivate it
    status, _, response = portal_download(portal_of(researcher), export)
    assert status == 403 and not response.streaming
    assert download(researcher, export.pk)[0] == 403
    assert portal_events(export).get().status == 403


def test_a_withdrawn_releases_export_is_not_found_in_the_portal(release):
    researcher = make_research_client(**GENEROUS)
    export = ready_export(researcher)
    withdraw_release(export.release, reason="review replay")
    status, body, response = portal_download(portal_of(researcher), export)
    assert status == 404 and not response.streaming
    assert "withdrawn" in body.decode() and "Back to your dashboard" in body.decode()
    assert download(researcher, export.pk)[0] == 404
    event = portal_events(export).get()
    assert (event.status, event.rows_returned, event.bytes_returned) == (404, 0, 0)


def test_a_grant_that_no_longer_allows_exports_cannot_download_in_the_portal(release):
    researcher = make_research_client(**GENEROUS)
    export = ready_export(researcher)
    AccessGrant.objects.filter(pk=researcher.grant.pk).update(modality=Modality.RECORDS)  # staff narrow it
    status, _, response = portal_download(portal_of(researcher), export)
    assert status == 403 and not response.streaming
    assert download(researcher, export.pk)[0] == 403
    assert portal_events(export).get().status == 403


def test_the_portal_download_is_audited_with_the_apis_fields_reference_included(release):
    researcher = dsc_research_client(quotas=GENEROUS)
    assert researcher.grant.dsc_reference
    export = ready_export(researcher)
    api_status, api_body, _ = download(researcher, export.pk)
    portal_status, portal_body, response = portal_download(portal_of(researcher), export)
    assert api_status == portal_status == 200
    assert portal_body == api_body and hashlib.sha256(portal_body).hexdigest() == export.sha256
    assert response["ETag"] == f'"{export.sha256}"' and response["Content-Length"] == str(export.bytes)
    assert response["Content-Disposition"].startswith("attachment; filename=")
    api_event, portal_event = api_events(export).get(), portal_events(export).get()
    assert {field: getattr(portal_event, field) for field in AUDITED} == {
        field: getattr(api_event, field) for field in AUDITED
    }
    assert portal_event.reference == researcher.grant.dsc_reference
    assert (portal_event.rows_returned, portal_event.bytes_returned) == (export.row_count, export.bytes)


def test_a_portal_refusal_of_a_dsc_grant_records_its_reference(release):
    researcher = dsc_research_client(quotas=GENEROUS)
    export = ready_export(researcher)
    withdraw_release(export.release, reason="review replay")
    assert portal_download(portal_of(researcher), export)[0] == 404
    assert download(researcher, export.pk)[0] == 404
    assert portal_events(export).get().reference == api_events(export).get().reference == researcher.grant.dsc_reference


def test_a_portal_download_abandoned_midway_records_only_what_was_sent(release, monkeypatch):
    monkeypatch.setattr(views, "DOWNLOAD_BLOCK", 64)
    researcher = make_research_client(**GENEROUS)
    export = ready_export(researcher)
    response = portal_of(researcher).get(f"/portal/exports/{export.pk}/download/")
    assert response.status_code == 200
    sent = next(response._iterator) + next(response._iterator)
    response._iterator.close()  # the browser went away after two blocks
    event = portal_events(export).get()
    assert event.bytes_returned == len(sent) == 128 < export.bytes
    assert event.rows_returned == 0
