"""Reads of releases. Only published releases are ever visible to the API."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.db.models import QuerySet

from moderation_data.catalog.models import SUMMARY_SLUG, Dataset
from moderation_data.releases.models import Release
from platform_api.errors import NotFoundError

LATEST = "latest"


def published_releases(dataset: Dataset) -> QuerySet[Release]:
    """A dataset's published releases, newest first (withdrawn ones are not included)."""
    return Release.objects.published().filter(dataset=dataset).order_by("-published_at", "-id")


def get_release(dataset: Dataset, version: str) -> Release | None:
    """The published release named ``version`` (``latest`` = the newest published), or None."""
    releases = published_releases(dataset)
    if version == LATEST:
        return releases.first()
    return releases.filter(version=version).first()


def get_published_release(dataset: Dataset, version: str) -> Release:
    """Like :func:`get_release`, but a missing, unpublished or withdrawn release is 404 ``not_found``."""
    release = get_release(dataset, version)
    if release is None:
        raise NotFoundError(f"No published release {version!r} of {dataset.slug}.")
    return release


# The JSON documents of a release that the row endpoints never read per request (the codebook is
# read once per process and release: moderation_data.query.records.query_fields).
_HEAVY_FIELDS = ("anonymization", "control_totals", "codebook", "privacy_report")


def get_release_for_rows(dataset: Dataset, version: str) -> Release:
    """:func:`get_published_release` for the endpoints reading rows (records, count, exports, aggregates):
    one lean query (decoding the codebook and the privacy report took 5 ms a request), and the release
    knows its dataset without another one. Deferred fields load on first access."""
    releases = published_releases(dataset).defer(*_HEAVY_FIELDS)
    release = releases.first() if version == LATEST else releases.filter(version=version).first()
    if release is None:
        raise NotFoundError(f"No published release {version!r} of {dataset.slug}.")
    release.dataset = dataset
    return release


def release_rows_table(release: Release) -> str:
    """The (safe, unquoted) name of the table holding a row-level release's rows."""
    if not release.rows_table:
        raise ValueError(f"release {release} has no rows table (aggregate dataset?)")
    assert release.rows_table.replace("_", "").isalnum()
    return release.rows_table


def codebook_fields(release: Release) -> dict[str, dict]:
    """The codebook of a release as {field name: definition}, in codebook order."""
    return {field["name"]: field for field in release.codebook}


def iter_release_rows(
    release: Release, *, fields: list[str] | None = None, after_row_id: int = 0, batch_size: int = 5000
) -> Iterator[dict]:
    """A release's rows as dicts in row_id order (keyset batches: constant memory, any depth).

    Pseudonym columns hold the stored base pseudonyms: apply
    ``moderation_data.releases.pseudonyms.project_pseudonym`` before anything leaves the platform.
    """
    known = codebook_fields(release)
    names = fields or list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    columns = ", ".join(known[name]["column"] for name in names)
    table = release_rows_table(release)
    last = after_row_id
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT row_id, {columns} FROM {table} WHERE row_id > %s ORDER BY row_id LIMIT %s",  # noqa: S608
                [last, batch_size],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        for row in rows:
            yield {"row_id": row[0], **dict(zip(names, row[1:], strict=True))}
        last = rows[-1][0]


def latest_summary_release() -> Release | None:
    dataset = Dataset.objects.filter(slug=SUMMARY_SLUG).first()
    return get_release(dataset, LATEST) if dataset else None
