"""Red-team findings on export files (issue 15), replayed:

- files outlived the right to them: after staff removed the dataset from the grant, after the
  release was withdrawn, and with a token scoped to ``exports`` only, the file still downloaded;
- a ``Range: bytes=1-`` download recorded 0 rows and nothing about what was sent;
- files were written world-readable (0644).

Exports run in-process (the same services a worker runs), so these tests need no worker.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
from pathlib import Path

import pytest

from moderation_data.catalog.models import Dataset
from moderation_data.exports import services
from moderation_data.exports.models import Export, ExportChunk
from moderation_data.releases.services import withdraw_release
from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client
from tests.moderation_data.exports_support import EXPORTS, GENEROUS, download, request_export

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_export_dir(settings, tmp_path):
    options = {**settings.STORAGES["exports"]["OPTIONS"], "location": str(tmp_path / "exports")}
    settings.STORAGES = {**settings.STORAGES, "exports": {**settings.STORAGES["exports"], "OPTIONS": options}}


def ready_export(client, fmt: str = "csv") -> Export:
    """Request an export over the API and run it here, step by step, as a worker would."""
    response = request_export(client, format=fmt)
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    services.run_export(export_id)
    for chunk in ExportChunk.objects.filter(export_id=export_id).order_by("index"):
        services.run_export_chunk(export_id, chunk.index)
    services.finalize_export(export_id)
    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.READY
    return export


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_a_dataset_removed_from_the_grant_can_no_longer_be_downloaded(release):
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    assert download(client, export.pk)[0] == 200
    client.grant.datasets.remove(Dataset.objects.get(slug="moderation-decisions"))  # staff narrow the grant
    status, _, response = download(client, export.pk)
    assert (status, error_code(response)) == (403, "scope_missing")
    assert AccessEvent.objects.filter(endpoint=f"{EXPORTS}/{export.pk}/file", status=403).count() == 1


def test_a_withdrawn_releases_export_is_not_found(release):
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    withdraw_release(export.release, reason="red team replay")
    status, _, response = download(client, export.pk)
    assert (status, error_code(response)) == (404, "not_found")


def test_a_token_scoped_to_exports_only_cannot_download(release):
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    token = client.http.post(
        "/oauth/token/", {"grant_type": "client_credentials", "scope": "exports"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    ).json()["access_token"]
    exports_only = dataclasses.replace(client, token=token)
    status, _, response = download(exports_only, export.pk)
    assert (status, error_code(response)) == (403, "scope_missing")
    assert response.json()["error"]["detail"]["required_scope"] == "dataset:moderation-decisions"
    assert download(client, export.pk)[0] == 200  # the full token of the same grant still can


def test_a_partial_download_records_the_bytes_sent_and_no_rows(release):
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    status, content, response = download(client, export.pk, HTTP_RANGE="bytes=1-")
    assert status == 206 and len(content) == export.bytes - 1
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert (event.bytes_returned, event.rows_returned) == (export.bytes - 1, 0)
    status, content, response = download(client, export.pk)
    assert status == 200
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert (event.bytes_returned, event.rows_returned) == (export.bytes, export.row_count)
    assert export.row_count > 0


def test_a_download_abandoned_midway_records_only_what_was_sent(release, monkeypatch):
    from moderation_data.exports import api

    monkeypatch.setattr(api, "DOWNLOAD_BLOCK", 64)
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    response = client.get(f"{EXPORTS}/{export.pk}/file")
    assert response.status_code == 200
    sent = next(response._iterator) + next(response._iterator)
    response._iterator.close()  # the client hangs up after two blocks
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert event.bytes_returned == len(sent) == 128 < export.bytes
    assert event.rows_returned == 0


def test_export_files_are_0600_in_0700_directories(release, settings):
    client = make_research_client(**GENEROUS)
    export = ready_export(client)
    root = Path(settings.STORAGES["exports"]["OPTIONS"]["location"])
    path = Path(services.export_storage().path(export.file_name))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    directory = path.parent
    while True:
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
        if directory == root:
            break
        directory = directory.parent
