"""build_aggregation_tables: the aggregates' table of every published release that lacks one (docs/aggregates.md).

Releases built since aggregates exist get theirs with the build; run this once after upgrading, so
that no researcher's first aggregate on an older release has to wait for it.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from moderation_data.aggregates.models import AggregationTable
from moderation_data.aggregates.table import ensure_aggregation_table
from moderation_data.catalog.models import ROW_LEVEL_SLUG
from moderation_data.releases.models import Release


class Command(BaseCommand):
    help = "Build the aggregation table of every published row-level release that has none yet (idempotent)."

    def handle(self, *args, **options) -> None:
        releases = (
            Release.objects.published()
            .filter(dataset__slug=ROW_LEVEL_SLUG)
            .exclude(pk__in=AggregationTable.objects.values("release_id"))
        )
        built = 0
        for release in releases.order_by("id"):
            started = time.monotonic()
            table = ensure_aggregation_table(release)
            built += 1
            self.stdout.write(f"{release.version}: {table} ({time.monotonic() - started:.1f} s)")
        self.stdout.write(f"{built} aggregation table(s) built.")
