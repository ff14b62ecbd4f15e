"""Exports that recovered into a wrong outcome, replayed in-process (the services a worker runs, no worker):

- staff changed a DSC grant's data period after an export was requested: the export was planned for
  the rows counted at request time but written from the grant's current limits, and became ``ready``
  with 0 rows (period narrowed) or with the extra rows silently dropped (period widened). It must fail,
  saying why, and give its allowance back;
- a worker died during finalize after claiming it: beat's re-run took the stale export over (fresh
  heartbeat) but the next finalize still saw the dead finalizer's claim and returned, forever.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from moderation_data.exports import services
from moderation_data.exports.models import Export, ExportChunk
from researchers import quotas
from researchers.models import AccessGrant
from tests.moderation_data.exports_support import GENEROUS, api_rows, download, read_jsonl, request_export
from tests.researchers.dsc_support import dsc_research_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_export_dir(settings, tmp_path):
    options = {**settings.STORAGES["exports"]["OPTIONS"], "location": str(tmp_path / "exports")}
    settings.STORAGES = {**settings.STORAGES, "exports": {**settings.STORAGES["exports"], "OPTIONS": options}}


def short_of(release) -> dt.date:
    """A data_until one day before the release's end: with the shared release's coarse (monthly) decision
    dates no row lies wholly inside it, while the whole period holds them all."""
    return release.period_end - dt.timedelta(days=1)


def requested(client) -> Export:
    response = request_export(client, format="jsonl")
    assert response.status_code == 202, response.content
    return Export.objects.get(pk=response.json()["id"])


def run_in_process(export_id) -> Export:
    """run_export, every chunk, finalize: as a worker would, step by step."""
    services.run_export(export_id)
    for chunk in ExportChunk.objects.filter(export_id=export_id).order_by("index"):
        services.run_export_chunk(export_id, chunk.index)
    services.finalize_export(export_id)
    return Export.objects.get(pk=export_id)


@pytest.mark.parametrize("change", ["narrowed", "widened"])
def test_an_export_whose_grant_limits_changed_fails_and_is_refunded(release, change):
    until, new_until = (release.period_end, short_of(release))
    if change == "widened":
        until, new_until = new_until, until
    client = dsc_research_client(data_from=release.period_start, data_until=until, quotas=GENEROUS)
    export = requested(client)
    assert (export.expected_rows > 0) == (change == "narrowed")
    assert quotas.export_allowance(client.grant)["used"] == export.expected_rows
    AccessGrant.objects.filter(pk=client.grant.pk).update(data_until=new_until)  # staff edit the grant

    export = run_in_process(export.pk)

    assert export.status == Export.Status.FAILED, (export.status, export.row_count)
    assert "data limits changed" in export.error and "Request it again" in export.error
    assert export.quota_refunded and export.sha256 == "" and not export.file_name
    assert quotas.export_allowance(client.grant)["used"] == 0
    body = client.get(f"/api/v1/exports/{export.pk}").json()
    assert body["status"] == "failed"


def test_limits_changed_after_the_chunks_were_planned_fail_the_chunk_and_finalize(release):
    client = dsc_research_client(data_from=release.period_start, data_until=release.period_end, quotas=GENEROUS)
    export = requested(client)
    services.run_export(export.pk)
    assert ExportChunk.objects.filter(export_id=export.pk).exists()
    AccessGrant.objects.filter(pk=client.grant.pk).update(data_until=short_of(release))
    for chunk in ExportChunk.objects.filter(export_id=export.pk).order_by("index"):
        services.run_export_chunk(export.pk, chunk.index)
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED and "data limits changed" in export.error
    assert quotas.export_allowance(client.grant)["used"] == 0


def test_finalize_never_publishes_a_row_count_other_than_the_one_requested(release):
    client = dsc_research_client(data_from=release.period_start, data_until=release.period_end, quotas=GENEROUS)
    export = requested(client)
    Export.objects.filter(pk=export.pk).update(expected_rows=export.expected_rows + 1)  # what a drift looks like
    export = run_in_process(export.pk)
    assert export.status == Export.Status.FAILED and "Request it again" in export.error
    assert quotas.export_allowance(client.grant)["used"] == 0


def test_an_unchanged_grants_export_has_the_records_apis_rows(release):
    client = dsc_research_client(data_from=release.period_start, data_until=release.period_end, quotas=GENEROUS)
    export = run_in_process(requested(client).pk)
    assert export.status == Export.Status.READY, export.error
    status, content, _ = download(client, export.pk)
    assert status == 200
    rows = api_rows(client)
    assert read_jsonl(content) == rows and export.row_count == len(rows) == export.expected_rows > 0


def test_a_finalizer_that_died_does_not_block_the_export_forever(release):
    client = dsc_research_client(data_from=release.period_start, data_until=release.period_end, quotas=GENEROUS)
    export = requested(client)
    services.run_export(export.pk)
    for chunk in ExportChunk.objects.filter(export_id=export.pk).order_by("index"):
        services.run_export_chunk(export.pk, chunk.index)
    # The finalizer claimed the export, then its worker died; beat finds it stale.
    stale = timezone.now() - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS + 1)
    Export.objects.filter(pk=export.pk).update(finalized_by="dead-task", heartbeat_at=stale)

    services.run_export(export.pk, task_id="beat-requeued-run")  # what requeue_stuck_exports queues
    services.finalize_export(export.pk, task_id="new-finalize")  # what that run queues

    export.refresh_from_db()
    assert export.status == Export.Status.READY, (export.status, export.finalized_by)
    assert export.row_count == export.expected_rows > 0


def test_a_live_finalizer_keeps_its_claim_against_a_fresh_takeover(release):
    """Not stale: a redelivered run does not clear the claim of a finalizer still working."""
    client = dsc_research_client(data_from=release.period_start, data_until=release.period_end, quotas=GENEROUS)
    export = requested(client)
    services.run_export(export.pk, task_id="run")
    for chunk in ExportChunk.objects.filter(export_id=export.pk).order_by("index"):
        services.run_export_chunk(export.pk, chunk.index)
    Export.objects.filter(pk=export.pk).update(finalized_by="alive-task", heartbeat_at=timezone.now())
    services.run_export(export.pk, task_id="run")  # a redelivery of the same run message
    services.finalize_export(export.pk, task_id="other-finalize")
    export.refresh_from_db()
    assert (export.status, export.finalized_by) == (Export.Status.RUNNING, "alive-task")
