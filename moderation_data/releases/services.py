"""Every state change of a release: start, build (on a worker or inline), publish, withdraw.

A release is created ``building`` (with its public-summary companion), built from the raw tier
by :mod:`moderation_data.releases.build`, then published; once published its rows are frozen by
database triggers and it never changes. Withdrawing hides it from new queries.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from moderation_data.catalog.codebook import CODEBOOK_VERSION, codebook_for
from moderation_data.catalog.models import ROW_LEVEL_SLUG, SUMMARY_SLUG, Dataset
from moderation_data.releases import build, pseudonyms
from moderation_data.releases import citation as cite
from moderation_data.releases.models import Release

logger = logging.getLogger("moderation_data.releases")


ReleaseError = build.ReleaseError  # a release operation its state or the privacy checks do not allow


def _next_version(dataset: Dataset) -> str:
    base = timezone.now().strftime("%Y.%m.%d")
    taken = set(Release.objects.filter(dataset=dataset, version__startswith=base).values_list("version", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}.{n}" in taken:
        n += 1
    return f"{base}.{n}"


@transaction.atomic
def start_release(
    dataset: Dataset,
    *,
    version: str | None = None,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
) -> Release:
    """Create the release row(s) in ``building`` state: a row-level dataset gets its summary companion."""
    if Release.objects.filter(dataset=dataset, version=version).exists() if version else False:
        raise ReleaseError(f"{dataset.slug} already has a release {version}")
    version = version or _next_version(dataset)
    if dataset.slug == ROW_LEVEL_SLUG and period_start:
        build.check_period(dataset.pk, period_start, period_end)  # overlapping periods are refused
    common = {
        "version": version,
        "period_start": period_start,
        "period_end": period_end,
        "pseudonym_key_version": settings.PSEUDONYM_KEY_VERSION,
        "key_fingerprint": pseudonyms.key_fingerprint(settings.PSEUDONYM_KEY_VERSION),
        "codebook_version": CODEBOOK_VERSION,
    }
    release = Release.objects.create(
        dataset=dataset, k_anonymity=dataset.k_anonymity, codebook=codebook_for(dataset.slug), **common
    )
    if dataset.slug == ROW_LEVEL_SLUG:
        summary_ds = Dataset.objects.filter(slug=SUMMARY_SLUG).first()
        if summary_ds and not Release.objects.filter(dataset=summary_ds, version=version).exists():
            companion = Release.objects.create(
                dataset=summary_ds, k_anonymity=summary_ds.k_anonymity, codebook=codebook_for(SUMMARY_SLUG), **common
            )
            release.companion = companion
            release.save(update_fields=["companion"])
    return release


def build_release(release_id: int, *, publish: bool) -> Release:
    """Build a release (and its companion) from the raw tier; idempotent: only a ``building`` one is built."""
    release = Release.objects.select_related("dataset", "companion").get(pk=release_id)
    if release.status != Release.Status.BUILDING:
        return release
    started = time.monotonic()
    try:
        with transaction.atomic():
            locked = Release.objects.select_for_update(skip_locked=True).filter(pk=release_id).first()
            if locked is None or locked.status != Release.Status.BUILDING:
                return Release.objects.get(pk=release_id)
            build.build(release)
    except Exception as exc:
        logger.exception("release build failed", extra={"release": release_id})
        Release.objects.filter(pk__in=[release.pk, release.companion_id or release.pk]).filter(
            status=Release.Status.BUILDING
        ).update(status=Release.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    release.refresh_from_db()
    _vacuum(release.rows_table)
    elapsed = time.monotonic() - started
    Release.objects.filter(pk=release.pk).update(build_seconds=elapsed)
    release.refresh_from_db()
    logger.info("release built", extra={"release": release.pk, "rows": release.row_count, "seconds": elapsed})
    if publish:
        release = publish_release(release)
    return release


@transaction.atomic
def publish_release(release: Release, *, notes: str = "", doi: str = "") -> Release:
    """Publish a built release (and its built companion) atomically and freeze its rows in the database.

    ``notes`` (a short changelog) and an optional ``doi`` are recorded with it (docs/citation.md);
    once the transaction commits, every researcher whose grant reads the dataset is e-mailed.
    """
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.status == Release.Status.PUBLISHED:
        return release
    if release.status != Release.Status.BUILT:
        raise ReleaseError(f"release {release} is {release.status}: only a built release can be published")
    doi = _check_doi(doi)
    now = timezone.now()
    published = []
    for item in [release, *([release.companion] if release.companion_id else [])]:
        item = Release.objects.select_for_update().get(pk=item.pk)
        if item.status != Release.Status.BUILT:
            continue
        if item.rows_table:
            _freeze(item.rows_table)
        item.status, item.published_at, item.notes = Release.Status.PUBLISHED, now, notes.strip()
        item.doi = doi if item.pk == release.pk else ""
        item.save(update_fields=["status", "published_at", "notes", "doi"])
        published.append(item.pk)
    transaction.on_commit(lambda: notify_readers(published))
    release.refresh_from_db()
    return release


def _check_doi(doi: str) -> str:
    doi = (doi or "").strip().removeprefix("https://doi.org/").removeprefix("doi:")
    if doi and not re.fullmatch(r"10\.\d{4,9}/\S+", doi):
        raise ReleaseError(f"{doi!r} is not a DOI (10.<registrant>/<suffix>, e.g. 10.5281/zenodo.1234567)")
    return doi


def notify_readers(release_ids: list[int]) -> int:
    """E-mail each researcher whose usable grant reads a newly published release (once per researcher).

    Runs after the publishing transaction committed; a mail failure is logged, never raised.
    Links are absolute (PUBLIC_BASE_URL). Returns how many e-mails were sent.
    """
    from researchers.models import AccessGrant

    releases = list(Release.objects.filter(pk__in=release_ids).select_related("dataset").order_by("pk"))
    by_address: dict[str, list[Release]] = {}
    for release in releases:
        grants = AccessGrant.objects.usable().filter(datasets=release.dataset)
        for address in grants.values_list("application__principal_researcher__user__email", flat=True):
            if address:
                by_address.setdefault(address, []).append(release)
    sent = 0
    for address, items in sorted(by_address.items()):
        subject, body = _release_email(items)
        try:
            send_mail(f"[Research data access] {subject}", body, None, [address])
            sent += 1
        except Exception:  # publication stands; the log says who missed the notification
            logger.exception("could not send a release notification", extra={"releases": release_ids})
    return sent


def _release_email(releases: list[Release]) -> tuple[str, str]:
    base = settings.PUBLIC_BASE_URL
    first = releases[0]
    subject = f"New release {first.version} of {first.dataset.title}"
    parts = []
    for release in releases:
        facts = cite.metadata(release)
        parts.append(
            "\n".join(
                [
                    f'"{release.dataset.title}" ({release.dataset.slug}), release {release.version}',
                    f"  period {facts['period_start']} to {facts['period_end']}, {facts['row_count']} records",
                    f"  sha256 {facts['sha256']}",
                    "",
                    "Release notes:",
                    release.notes or "(none)",
                    "",
                    "Cite it as:",
                    cite.as_text(release),
                    f"BibTeX: {facts['downloads']['bibtex']}",
                    f"RIS:    {facts['downloads']['ris']}",
                    "",
                    f"Release page: {facts['url']}",
                    f"Codebook:     {base}/portal/docs/codebook/{release.dataset.slug}",
                ]
            )
        )
    body = (
        "A new release of a dataset your grant reads has been published.\n\n"
        + "\n\n".join(parts)
        + "\n\n`latest` now names this release: a walk started on an earlier one keeps going if you pin its "
        f"version (every page reports it). Documentation: {base}/portal/docs/\n"
    )
    return subject, body


@transaction.atomic
def withdraw_release(release: Release, *, reason: str = "") -> Release:
    """Hide a published release from new queries; its rows stay, frozen, for the record."""
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.status == Release.Status.WITHDRAWN:
        return release
    if release.status != Release.Status.PUBLISHED:
        raise ReleaseError(f"release {release} is {release.status}: only a published release can be withdrawn")
    release.status, release.withdrawn_at, release.withdrawn_reason = Release.Status.WITHDRAWN, timezone.now(), reason
    release.save(update_fields=["status", "withdrawn_at", "withdrawn_reason"])
    return release


def _vacuum(table: str) -> None:
    """Mark every page all-visible and frozen: index-only scans for counts, no hint-bit writes on first read.

    VACUUM cannot run inside a transaction; when the caller holds one (tests), it is skipped.
    """
    if not table or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (FREEZE, ANALYZE) {table}")


def _freeze(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER moderation_data_frozen BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION moderation_data_frozen()"
        )
        cursor.execute(
            f"CREATE TRIGGER moderation_data_frozen_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION moderation_data_frozen()"
        )


def request_build(dataset: Dataset) -> Release:
    """Create a release in ``building`` state and build it on a worker after commit (published from admin)."""
    from moderation_data.releases.tasks import build_release_task

    with transaction.atomic():
        release = start_release(dataset)
        transaction.on_commit(lambda: build_release_task.delay(release.pk, publish=False))
    return release
