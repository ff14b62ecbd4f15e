"""What the researcher's dashboard shows for each grant (read-only; the views only render it).

Usage comes from the audit log (what the quotas counted: admitted requests that did not fail on
our side), so the chart and ``/api/v1/usage`` agree; charts are plain inline SVG built here.
Release notes and citations are read through :func:`release_notes` and :func:`release_citation`,
which accept the release model with or without those fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.models import AccessToken

from moderation_data.catalog.models import Dataset
from moderation_data.exports import services as exports
from moderation_data.exports.models import Export
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import published_releases
from researchers.models import AccessGrant
from researchers.selectors import usage_of

USAGE_DAYS = 30
RELEASES_SHOWN = 5
EXPORTS_SHOWN = 20
# The chart's drawing area (SVG user units; the picture scales to the page width).
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 600, 120, 2


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: dt.date
    value: int
    over: bool


@dataclasses.dataclass(frozen=True)
class UsageChart:
    """One quota's daily use over the last days: bars, and a line at the quota when it fits the picture."""

    name: str
    unit: str
    quota: int
    bars: list[Bar]
    scale_top: int
    # None when the quota is far above every day's use: the bars are then drawn against the busiest
    # day (so their shape is visible) and the caption says how small a share of the quota was used.
    quota_y: float | None
    peak: int
    total: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def days(self) -> int:
        return len(self.bars)

    @property
    def peak_share(self) -> float:
        """The busiest day's use as a share of the quota (0 to 1, or more if it was exceeded)."""
        return self.peak / self.quota if self.quota else 0.0


# Below this share of the quota at its busiest day, drawing against the quota would flatten every bar.
QUOTA_IN_PICTURE_SHARE = 0.2
# A day with any use gets at least this height (SVG units), so it never looks like a day without.
MIN_BAR_HEIGHT = 1.5


def usage_chart(name: str, unit: str, quota: int, per_day: dict[dt.date, int], days: list[dt.date]) -> UsageChart:
    """Bars per day; scaled to the quota (drawn as a line) unless the quota is far above every day's use."""
    peak = max([per_day.get(day, 0) for day in days] or [0])
    quota_in_picture = quota > 0 and peak >= quota * QUOTA_IN_PICTURE_SHARE
    top = max(quota, peak, 1) if quota_in_picture else max(peak, 1)
    slot = CHART_WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        value = per_day.get(day, 0)
        height = CHART_HEIGHT * value / top
        if value:
            height = max(height, MIN_BAR_HEIGHT)
        bars.append(
            Bar(
                x=round(index * slot + BAR_GAP / 2, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(slot - BAR_GAP, 2),
                height=round(height, 2),
                day=day,
                value=value,
                over=value > quota,
            )
        )
    return UsageChart(
        name=name,
        unit=unit,
        quota=quota,
        bars=bars,
        scale_top=top,
        quota_y=round(CHART_HEIGHT - CHART_HEIGHT * quota / top, 2) if quota_in_picture else None,
        peak=peak,
        total=sum(per_day.get(day, 0) for day in days),
    )


def _last_days(count: int, *, today: dt.date | None = None) -> list[dt.date]:
    today = today or timezone.now().astimezone(dt.UTC).date()
    return [today - dt.timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def usage_charts(grant: AccessGrant) -> dict[str, Any]:
    usage = usage_of(grant, days=USAGE_DAYS)
    days = _last_days(USAGE_DAYS)
    requests = {row["day"]: row["requests"] for row in usage["days"]}
    records = {row["day"]: row["records"] for row in usage["days"]}
    return {
        "today": usage["today"],
        # Exports have an allowance of their own where the grant has one (docs/quotas.md).
        "export_allowance": usage.get("export_allowance"),
        "charts": [
            usage_chart("Requests per day", "requests", grant.requests_per_day, requests, days),
            usage_chart("Records per day", "records", grant.records_per_day, records, days),
        ],
        "table": [{"day": day, "requests": requests.get(day, 0), "records": records.get(day, 0)} for day in days],
    }


# --------------------------------------------------------------------------- credentials
def credential_ages(grant: AccessGrant) -> dict[str, Any]:
    """When the current secret was issued, and the newest access token's issue and expiry times."""
    token = (
        AccessToken.objects.filter(application_id=grant.oauth_client_id)
        .order_by("-created")
        .only("created", "expires")
        .first()
    )
    return {
        "secret_issued_at": grant.secret_issued_at,
        "token_issued_at": token.created if token else None,
        "token_expires_at": token.expires if token else None,
        "token_active": bool(token and token.expires > timezone.now()),
    }


# --------------------------------------------------------------------------- exports
def exports_of_grant(grant: AccessGrant) -> QuerySet[Export]:
    return (
        Export.objects.visible_to(grant)
        .select_related("release__dataset")
        .only(
            "id", "grant_id", "format", "status", "row_count", "bytes", "sha256", "created_at", "finished_at",
            "expires_at", "error", "release__version", "release__dataset__slug", "release__dataset__title",
        )
        .order_by("-created_at")
    )  # fmt: skip


def export_rows(grant: AccessGrant) -> list[dict[str, Any]]:
    rows = []
    for export in exports_of_grant(grant)[:EXPORTS_SHOWN]:
        status = Export.Status.EXPIRED if exports.is_expired(export) else export.status
        rows.append({"export": export, "status": status, "downloadable": status == Export.Status.READY})
    return rows


# --------------------------------------------------------------------------- releases
def release_notes(release: Release) -> str:
    """The release's change log, whatever the release model calls it ("" when it has none)."""
    for name in ("release_notes", "notes", "changelog"):
        value = getattr(release, name, None)
        if value:
            return str(value)
    return ""


def release_citation(release: Release) -> dict[str, Any] | None:
    """The release's suggested citation (text, persistent URL, BibTeX/RIS downloads), or None without one.

    Read from ``moderation_data.releases.citation`` (docs/citation.md) when it is installed, so the
    dashboard shows exactly what the API, the manifests and the release page show.
    """
    try:
        from moderation_data.releases import citation as citations
    except ImportError:
        return None
    as_text = getattr(citations, "as_text", None)
    metadata = getattr(citations, "metadata", None)
    if not callable(as_text):
        return None
    facts = metadata(release) if callable(metadata) else {}
    downloads = facts.get("downloads") or {}
    return {
        "text": as_text(release),
        "url": facts.get("url"),
        "doi": facts.get("doi"),
        "bibtex_url": downloads.get("bibtex"),
        "ris_url": downloads.get("ris"),
    }


def readable_releases(grant: AccessGrant) -> list[dict[str, Any]]:
    """Per dataset the grant may read: its newest published releases, with notes and citation."""
    result = []
    for dataset in Dataset.objects.visible_to(grant):
        releases = list(published_releases(dataset).select_related("dataset")[:RELEASES_SHOWN])
        result.append(
            {
                "dataset": dataset,
                "releases": [
                    {"release": release, "notes": release_notes(release), "citation": release_citation(release)}
                    for release in releases
                ],
            }
        )
    return result


def grant_dashboard(grant: AccessGrant) -> dict[str, Any]:
    """Everything the dashboard shows about one grant."""
    return {
        "grant": grant,
        "credentials": credential_ages(grant),
        "usage": usage_charts(grant),
        "exports": export_rows(grant),
        "datasets": readable_releases(grant),
    }
