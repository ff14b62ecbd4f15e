"""Published releases are immutable in the database; publish and withdraw are services."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from moderation_data.aggregates.models import PublicSummaryCell
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import get_release, latest_summary_release, published_releases
from moderation_data.releases.services import (
    ReleaseError,
    build_release,
    publish_release,
    start_release,
    withdraw_release,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(shared_release, db) -> Release:
    """The test process's shared release (tests.api_fixtures): what a test changes here is rolled back."""
    return Release.objects.get(pk=shared_release.pk)


def _fails(sql: str, params=None) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(excinfo.value)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET policy = 'other' WHERE row_id = 1",
        "UPDATE {table} SET country = NULL",
        "DELETE FROM {table} WHERE row_id = 1",
        "DELETE FROM {table}",
        "TRUNCATE {table}",
        "INSERT INTO {table} (row_id, decision_id, decided_on, appealed, reinstated)"
        " VALUES (999999, 'x', '2025-01-01', false, false)",
    ],
)
@pytest.mark.embedded
def test_changing_a_published_releases_rows_fails_at_the_database(published, statement):
    message = _fails(statement.format(table=published.rows_table))
    assert "release rows are immutable" in message
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {published.rows_table}")
        assert cursor.fetchone()[0] == published.row_count


def test_a_published_releases_metadata_cannot_change_or_be_deleted(published):
    assert "metadata cannot change" in _fails(
        "UPDATE moderation_data_release SET row_count = row_count + 1 WHERE id = %s", [published.pk]
    )
    assert "metadata cannot change" in _fails(
        "UPDATE moderation_data_release SET sha256 = 'x', status = 'withdrawn' WHERE id = %s", [published.pk]
    )
    assert "can only be withdrawn" in _fails(
        "UPDATE moderation_data_release SET status = 'building' WHERE id = %s", [published.pk]
    )
    assert "cannot be deleted" in _fails("DELETE FROM moderation_data_release WHERE id = %s", [published.pk])


def test_the_enforcement_summary_of_a_published_release_cannot_change(published):
    summary = latest_summary_release()
    assert summary is not None and summary.version == published.version
    cells = PublicSummaryCell.objects.filter(summary__release=summary)
    assert cells.exists()
    assert "immutable" in _fails(
        "UPDATE moderation_data_publicsummarycell SET decisions = 1 WHERE id = %s", [cells.first().pk]
    )
    assert "immutable" in _fails("DELETE FROM moderation_data_publicsummarycell WHERE id = %s", [cells.first().pk])
    assert "immutable" in _fails("UPDATE moderation_data_publicsummary SET epsilon = 100")
    with pytest.raises(DatabaseError), transaction.atomic():
        PublicSummaryCell.objects.create(
            summary=cells.first().summary, dimension="policy", month="2025-01", value="other", decisions=99,
            ci95_low=0, ci95_high=1, position=10**6,
        )  # fmt: skip
    # The aggregation table derived from the rows is frozen like them.
    assert "immutable" in _fails(f"DELETE FROM moderation_data_aggregate_rows_{published.pk}")


def test_withdrawing_hides_a_release_from_new_queries_but_keeps_its_rows(published):
    dataset = published.dataset
    assert get_release(dataset, "latest") == published
    withdrawn = withdraw_release(published, reason="error found in source data")
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_reason == "error found in source data"
    assert get_release(dataset, "latest") is None and get_release(dataset, published.version) is None
    assert list(published_releases(dataset)) == []
    assert "can only be withdrawn" in _fails(
        "UPDATE moderation_data_release SET status = 'published' WHERE id = %s", [published.pk]
    )
    with pytest.raises(ReleaseError):
        publish_release(withdrawn)


def test_latest_names_the_newest_published_release(published):
    # Releases cover disjoint periods (docs/privacy.md): the newer one needs decisions after the first.
    generate_demo_data(rows=600, seed=6, days=60)
    newer = build_release(start_release(published.dataset, version="2.0").pk, publish=True)
    assert get_release(published.dataset, "latest") == newer
    assert get_release(published.dataset, published.version) == published
    assert get_release(published.dataset, "9.9") is None


def test_a_release_is_built_then_published_atomically(published):
    # Releases cover disjoint periods (docs/privacy.md): this one needs decisions after the published one.
    generate_demo_data(rows=600, seed=4, days=56)
    release = build_release(start_release(published.dataset).pk, publish=False)
    assert release.status == "built" and release.companion.status == "built"
    # Built but unpublished: invisible (the latest is still the one published before), and its rows
    # can still be discarded.
    assert get_release(published.dataset, "latest") == published
    release = publish_release(release)
    release.companion.refresh_from_db()
    assert release.status == release.companion.status == "published"
    assert release.published_at == release.companion.published_at
    # Building again is a no-op: only a release still building is built.
    assert build_release(release.pk, publish=True).status == "published"


def test_a_version_cannot_be_reused(published):
    with pytest.raises(ReleaseError):
        start_release(published.dataset, version=published.version)


def test_a_failed_build_is_marked_failed_and_leaves_no_table(datasets, monkeypatch):
    from moderation_data.releases import build as releases

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(releases, "_checksum", explode)
    release = start_release(datasets[0])
    with pytest.raises(RuntimeError):
        build_release(release.pk, publish=True)
    release.refresh_from_db()
    assert release.status == "failed" and "disk full" in release.error
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"moderation_data_release_rows_{release.pk}"])
        assert cursor.fetchone()[0] is None
