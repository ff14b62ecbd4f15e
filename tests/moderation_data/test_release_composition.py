"""Composition of releases (issue 10): disjoint periods, account precision that never gets finer,
joined releases that keep k, and a build refused when a privacy check fails (docs/privacy.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from moderation_data.catalog.models import ROW_LEVEL_SLUG, Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.releases import anonymize
from moderation_data.releases.models import AccountPrecision, Release
from moderation_data.releases.services import ReleaseError, build_release, start_release
from tests.moderation_data.conftest import ensure_datasets

QI = [h.name for h in anonymize.HIERARCHIES]


def _fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _dataset() -> Dataset:
    return ensure_datasets()[0]


def _build(**kwargs) -> Release:
    return build_release(start_release(_dataset(), **kwargs).pk, publish=True)


def test_periods_do_not_overlap_and_an_overlapping_period_is_refused(transactional_db):
    generate_demo_data(rows=1500, seed=5, days=60)
    first = _build(period_end=dt.date(2025, 1, 31))
    assert first.status == Release.Status.PUBLISHED and first.period_start == dt.date(2025, 1, 1)
    second = _build()  # by default: from the day after the previous release's period
    assert second.period_start == dt.date(2025, 2, 1) and second.period_end == dt.date(2025, 3, 1)
    with pytest.raises(ReleaseError, match="overlaps release"):
        start_release(_dataset(), period_start=dt.date(2025, 1, 15), period_end=dt.date(2025, 2, 15))
    with pytest.raises(ReleaseError, match="nothing to release"):
        _build()


def test_two_releases_joined_on_every_id_and_value_keep_k_accounts(transactional_db):
    generate_demo_data(rows=3000, seed=9, days=56)
    first = _build(period_end=dt.date(2025, 1, 28))
    second = _build()
    k = first.k_anonymity
    assert first.row_count > 0 and second.row_count > 0
    # Disjoint periods: no decision is in both, whatever its pseudonym.
    assert (
        _fetch(f"SELECT count(*) FROM {first.rows_table} a JOIN {second.rows_table} b USING (decision_id)")[0][0] == 0
    )
    # The account-level values of an account are never finer in the later release …
    levels = {}
    for release in (first, second):
        for row in AccountPrecision.objects.filter(release=release).values_list(
            "account_hash", "country_level", "language_level", "account_type_level"
        ):
            levels.setdefault(row[0], []).append(row[1:])
    for history in levels.values():
        if len(history) == 2:
            assert all(later >= earlier for earlier, later in zip(history[0], history[1], strict=True))
    # … and joining on the account (or on the values) and keeping each account's finest values leaves k.
    account_level = ["country", "content_language", "account_type"]
    others = [name for name in QI if name not in account_level]
    first_values = ", ".join(f"(array_agg(a.{c} ORDER BY a.row_id))[1] AS {c}" for c in account_level)
    finest = f"""SELECT b.account_id, {first_values}
                   FROM {second.rows_table} b JOIN {first.rows_table} a USING (account_id) GROUP BY b.account_id"""
    refined = _fetch(
        f"""SELECT count(*) FROM (
                SELECT {", ".join(f"coalesce(f.{c}, b.{c})" for c in account_level)},
                       {", ".join(f"b.{c}" for c in others)},
                       count(DISTINCT coalesce(b.account_id, b.decision_id)) n
                  FROM {second.rows_table} b LEFT JOIN ({finest}) f USING (account_id)
                 GROUP BY {", ".join(str(i + 1) for i in range(len(QI)))}) c WHERE n < %s""",
        [k],
    )[0][0]
    assert refined == 0
    assert second.privacy_report["k_min_accounts_with_earlier_releases"] >= k


def test_a_build_that_fails_a_privacy_check_is_refused_and_not_published(transactional_db, monkeypatch):
    generate_demo_data(rows=1500, seed=3, days=60)

    def no_suppression(cursor, ctx, k, levels, prior):  # a regression that forgets to suppress small classes
        return real_apply(cursor, ctx, 1, {name: 0 for name in levels}, prior)

    real_apply = anonymize.apply
    monkeypatch.setattr(anonymize, "apply", no_suppression)
    release = start_release(_dataset())
    with pytest.raises(ReleaseError, match=r"not anonymous enough to publish: .*fewer than k=10"):
        build_release(release.pk, publish=True)
    release.refresh_from_db()
    assert release.status == Release.Status.FAILED and "fewer than k=10" in release.error
    assert not Release.objects.filter(dataset__slug=ROW_LEVEL_SLUG, status=Release.Status.PUBLISHED).exists()
