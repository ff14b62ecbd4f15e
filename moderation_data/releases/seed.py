"""The moderation-data step of ``seed_demo``: demo raw data and a published release, idempotently."""

from __future__ import annotations

from moderation_data.catalog.models import ROW_LEVEL_SLUG, Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.releases.build import source_fingerprint
from moderation_data.releases.models import Release
from moderation_data.releases.services import ReleaseError, build_release, start_release


def seed_demo_data(*, rows: int, seed: int, stdout=None, **_: object) -> dict:
    """Generate ``rows`` demo decisions and publish a release of them, unless one of the same data exists."""
    result = generate_demo_data(rows=rows, seed=seed)
    dataset = Dataset.objects.get(slug=ROW_LEVEL_SLUG)
    fingerprint = source_fingerprint()
    release = (
        Release.objects.published()
        .filter(dataset=dataset, source_fingerprint=fingerprint)
        .order_by("-published_at")
        .first()
    )
    latest = Release.objects.published().filter(dataset=dataset).order_by("-period_end").first()
    if release is None and latest is not None and latest.period_end and _no_data_after(latest.period_end):
        # Releases cover disjoint periods (docs/privacy.md): new demo decisions inside the period of
        # the published release are not released again.
        if stdout is not None:
            stdout.write(f"demo data changed within the period of release {latest.version}; it stays the release")
        return {"release": f"{dataset.slug} {latest.version}", "release_rows": latest.row_count}
    if release is None:
        try:
            release = build_release(start_release(dataset).pk, publish=True)
        except ReleaseError as exc:
            raise ReleaseError(f"the demo release could not be built: {exc}") from None
        if stdout is not None:
            stdout.write(
                f"demo data: {result['inserted']} new decisions; release {release.version} published "
                f"({release.row_count} rows, built in {release.build_seconds:.1f}s)"
            )
    elif stdout is not None:
        stdout.write(f"demo data unchanged; release {release.version} already published")
    return {"release": f"{dataset.slug} {release.version}", "release_rows": release.row_count}


def _no_data_after(day) -> bool:
    from moderation_data.ingest.models import Decision

    return not Decision.objects.filter(actioned_at__date__gt=day).exists()
