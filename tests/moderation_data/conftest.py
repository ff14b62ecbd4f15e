"""Fixtures of the moderation-data tests: the real DSA samples, demo data and built releases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moderation_data.catalog.models import ROW_LEVEL_SLUG, Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.ingest.models import Decision, ImportRun
from moderation_data.ingest.services import create_import_run, run_import
from moderation_data.releases.models import Release
from moderation_data.releases.services import build_release, start_release

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DSA_V1 = FIXTURES / "dsa_tdb_sor_v1_schema_real_excerpt_2024-03-14.csv"
DSA_V2 = FIXTURES / "dsa_tdb_sor_v2_schema_real_excerpt_2025-07-01.csv"


def ensure_datasets() -> tuple[Dataset, Dataset]:
    """The two standard datasets (created by a data migration; recreated if a flush removed them)."""
    decisions, _ = Dataset.objects.get_or_create(
        slug="moderation-decisions",
        defaults={"title": "Moderation decisions", "level": "row", "sensitivity": "restricted", "k_anonymity": 10},
    )
    summary, _ = Dataset.objects.get_or_create(
        slug="enforcement-summary",
        defaults={"title": "Enforcement summary", "level": "aggregate", "sensitivity": "public", "k_anonymity": 10},
    )
    return decisions, summary


def import_file(path: Path | str, *, format: str | None = None, strict: bool = False):
    return run_import(create_import_run(source_path=str(path), format=format, strict=strict).pk)


def build(dataset: Dataset | None = None, **kwargs) -> Release:
    dataset = dataset or ensure_datasets()[0]
    return build_release(start_release(dataset, **kwargs).pk, publish=True)


@pytest.fixture
def datasets(db) -> tuple[Dataset, Dataset]:
    return ensure_datasets()


@pytest.fixture(scope="module")
def demo_release(django_db_setup, django_db_blocker) -> Iterator[Release]:
    """A published release of skewed demo data plus the two real DSA samples, for a module.

    Committed once per module and removed at its end (raw data included): a module using it
    shares its raw tier, so tests that need an empty world live in other modules.
    """
    from tests.conftest import ACTIVE_MODULE_RELEASES, purge_releases_after, purge_stale_releases, release_watermark

    with django_db_blocker.unblock():
        ensure_datasets()
        purge_stale_releases()
        before = release_watermark()
        generate_demo_data(rows=6000, seed=11, days=28)
        import_file(DSA_V1)
        import_file(DSA_V2)
        release = build(Dataset.objects.get(slug=ROW_LEVEL_SLUG))
    ACTIVE_MODULE_RELEASES.update({release.pk, release.companion_id} - {None})
    yield release
    ACTIVE_MODULE_RELEASES.difference_update({release.pk, release.companion_id})
    with django_db_blocker.unblock():
        Decision.objects.all().delete()
        ImportRun.objects.all().delete()
        purge_releases_after(before)
