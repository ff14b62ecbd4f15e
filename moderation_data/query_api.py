"""The researcher query API (SPEC §3.2–3.4): catalog, releases, records, count, usage.

Every view is audited (one access event per request) and rate limited per grant; every
read starts from what the token may see, so a dataset outside its scopes is 403
``scope_missing`` and a release that is not published is 404.
"""

from __future__ import annotations

import datetime as dt

import orjson
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data import query_serializers as s
from moderation_data import records
from moderation_data.codebook import CODEBOOK_VERSION, codebook_for
from moderation_data.models import Dataset, Release
from moderation_data.selectors import get_release, published_releases
from platform_api.audit import scrub
from platform_api.dataapi import AuditedAPIView
from platform_api.errors import NotFoundError, QuotaExceeded, ScopeMissing
from platform_api.models import AccessEvent
from platform_api.ratelimit import grant_records_window, refund, reserve, usage_today
from researchers.authentication import grant_of
from researchers.permissions import HasActiveGrant, HasDatasetScope, HasRecordsAccess

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="invalid_request, invalid_query or invalid_cursor"),
    401: OpenApiResponse(s.ErrorSerializer, description="authentication_failed"),
    403: OpenApiResponse(s.ErrorSerializer, description="scope_missing, permission_denied or grant_inactive"),
    404: OpenApiResponse(s.ErrorSerializer, description="not_found"),
    429: OpenApiResponse(s.ErrorSerializer, description="rate_limited or quota_exceeded (see Retry-After)"),
    503: OpenApiResponse(s.ErrorSerializer, description="unavailable (e.g. the query took too long)"),
}
SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="dataset slug")
VERSION = OpenApiParameter(
    "version", OpenApiTypes.STR, OpenApiParameter.PATH, description="release version, or `latest`"
)


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def granted_datasets(grant) -> list[Dataset]:
    return list(grant.datasets.filter(is_active=True).order_by("slug"))


def _dataset(grant, slug: str) -> Dataset:
    dataset = next((d for d in granted_datasets(grant) if d.slug == slug), None)
    if dataset is None:  # permissions already checked the scope; an inactive dataset is out of scope too
        raise ScopeMissing(f"This token lacks the scope dataset:{slug}.", detail={"required_scope": f"dataset:{slug}"})
    return dataset


def _release(dataset: Dataset, version: str) -> Release:
    release = get_release(dataset, version)
    if release is None:
        raise NotFoundError(f"No published release {version!r} of {dataset.slug}.")
    return release


def release_summary(release: Release) -> dict:
    return {
        "version": release.version,
        "published_at": release.published_at,
        "row_count": release.row_count,
        "period_start": release.period_start,
        "period_end": release.period_end,
        "sha256": release.sha256,
    }


def dataset_summary(dataset: Dataset) -> dict:
    releases = [release_summary(r) for r in published_releases(dataset)]
    return {
        "slug": dataset.slug,
        "title": dataset.title,
        "description": dataset.description,
        "level": dataset.level,
        "sensitivity": dataset.sensitivity,
        "latest_release": releases[0]["version"] if releases else None,
        "releases": releases,
    }


def citation(release: Release) -> str:
    year = (release.published_at or release.created_at).year
    return (
        f"{release.dataset.title}, release {release.version} ({year}) [data set], "
        f"period {release.period_start} to {release.period_end}, {release.row_count} records, "
        f"sha256 {release.sha256}. Provided under DSA Art. 40 vetted-researcher data access."
    )


class DatasetListView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="datasets_list",
        summary="Datasets this client may use",
        responses={200: s.DatasetListSerializer, **_errors(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        datasets = [dataset_summary(d) for d in granted_datasets(grant_of(request))]
        return Response({"data": datasets})


class DatasetDetailView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="datasets_retrieve",
        summary="A dataset, its codebook and releases",
        description="The codebook is the latest published release's (each release keeps its own).",
        parameters=[SLUG],
        responses={200: s.DatasetDetailSerializer, **_errors(401, 403, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset = _dataset(grant_of(request), slug)
        latest = get_release(dataset, "latest")
        body = dataset_summary(dataset)
        body["codebook_version"] = latest.codebook_version if latest else CODEBOOK_VERSION
        body["codebook"] = latest.codebook if latest else codebook_for(dataset.slug)
        return Response(body)


class ReleaseDetailView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="releases_retrieve",
        summary="Release metadata",
        parameters=[SLUG, VERSION],
        responses={200: s.ReleaseDetailSerializer, **_errors(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        release = _release(_dataset(grant_of(request), slug), version)
        self.audit["release"] = release.version
        return Response(
            {
                **release_summary(release),
                "dataset": slug,
                "release": release.version,
                "status": release.status,
                "codebook_version": release.codebook_version,
                "pseudonym_key_version": release.pseudonym_key_version,
                "k_anonymity": release.k_anonymity,
                "anonymization": release.anonymization,
                "control_totals": release.control_totals,
                "citation": citation(release),
            }
        )


class RecordsView(AuditedAPIView):
    permission_classes = [HasDatasetScope, HasRecordsAccess]

    @extend_schema(
        operation_id="records_list",
        summary="Rows of a release (GET form of the query language)",
        description=(
            "Filters as query parameters: `field=value`, `field__in=a,b`, `field__gte=…` (also `__gt`, `__lt`, "
            "`__lte`, `__ne`); `fields=a,b,c`; `page_size` (1–1000, default 100); `cursor` from the previous page."
        ),
        parameters=[
            SLUG,
            VERSION,
            OpenApiParameter("fields", OpenApiTypes.STR, description="comma-separated field names"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1–1000, default 100"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of the previous page"),
        ],
        responses={200: s.RecordsPageSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        params = s.RecordsGetSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = {k: v for k, v in request.query_params.lists() if k not in {"fields", "page_size", "cursor"}}
        self.audit["query"] = scrub({k: v if len(v) > 1 else v[0] for k, v in filters.items()})
        release = _release(_dataset(grant_of(request), slug), version)
        query = records.build_query(release, get_params=filters, requested_fields=params.validated_data.get("fields"))
        return self._page(request, query, params.validated_data)

    @extend_schema(
        operation_id="records_query",
        summary="Rows of a release (JSON query language)",
        parameters=[SLUG, VERSION],
        request=s.RecordsBodySerializer,
        responses={200: s.RecordsPageSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        body = s.RecordsBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.audit["query"] = scrub({k: v for k, v in body.validated_data.items() if k != "cursor"})
        release = _release(_dataset(grant_of(request), slug), version)
        query = records.build_query(
            release, body_query=body.validated_data.get("query"), requested_fields=body.validated_data.get("fields")
        )
        return self._page(request, query, body.validated_data)

    def _page(self, request: Request, query: records.RecordsQuery, options: dict) -> Response:
        self.audit["release"] = query.release.version
        after = records.decode_after(query, options.get("cursor"))
        grant = grant_of(request)
        # Reserve rows before reading: concurrent pages can never overshoot the daily quota.
        reservation = reserve(grant_records_window(grant), options.get("page_size") or records.DEFAULT_PAGE_SIZE)
        if reservation.taken == 0:
            raise QuotaExceeded(
                "The daily record quota is used up; it resets at 00:00 UTC.",
                detail={"records_per_day": grant.records_per_day},
                headers={"Retry-After": str(max(1, reservation.ttl))},
            )
        try:
            page = records.fetch_page(query, after=after, limit=reservation.taken, project_id=grant.project_id)
        except BaseException:
            refund([reservation.window], amount=reservation.taken)
            raise
        refund([reservation.window], amount=reservation.taken - page.rows)
        self.audit["rows_returned"] = page.rows
        return Response(
            {
                # Already JSON (rendered by PostgreSQL): the orjson renderer embeds it as is.
                "data": orjson.Fragment(page.data_json),
                "next_cursor": page.next_cursor,
                "has_more": page.next_cursor is not None,
                "release": query.release.version,
            }
        )


class CountView(AuditedAPIView):
    permission_classes = [HasDatasetScope, HasRecordsAccess]

    @extend_schema(
        operation_id="records_count",
        summary="Number of rows matching a query",
        parameters=[SLUG, VERSION],
        request=s.CountBodySerializer,
        responses={200: s.CountSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        body = s.CountBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.audit["query"] = scrub(body.validated_data)
        release = _release(_dataset(grant_of(request), slug), version)
        self.audit["release"] = release.version
        query = records.build_query(release, body_query=body.validated_data.get("query"))
        return Response({"count": records.count(query), "release": release.version})


class UsageView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="usage_retrieve",
        summary="This client's usage per day, remaining quotas",
        responses={200: s.UsageSerializer, **_errors(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        grant = grant_of(request)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        # Admitted requests that did not fail on our side: what the quotas counted.
        days = (
            AccessEvent.objects.of_grant(grant)
            .filter(occurred_at__gte=since, status__lt=500)
            .exclude(status=429)
            .annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
            .values("day")
            .annotate(
                requests=Count("id"), records=Sum("rows_returned"), refused=Count("id", filter=Q(status__gte=400))
            )
            .order_by("-day")
        )
        today = usage_today(grant.pk)
        return Response(
            {
                "today": {
                    "requests": today["requests"],
                    "records": today["records"],
                    "requests_remaining": max(0, grant.requests_per_day - today["requests"]),
                    "records_remaining": max(0, grant.records_per_day - today["records"]),
                    "resets_at": today["resets_at"],
                },
                "quotas": grant.quotas,
                "days": [
                    {"day": d["day"], "requests": d["requests"], "records": d["records"] or 0, "refused": d["refused"]}
                    for d in days
                ],
            }
        )
