"""The row-level query endpoints: records (GET and POST forms of the query language) and count.

Every view is audited (one access event per request) and rate limited per grant; every read
starts from what the token may see, so a dataset outside its scopes is 403 ``scope_missing``
and a release that is not published is 404.
"""

from __future__ import annotations

import types

import orjson
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data.catalog.api import SLUG
from moderation_data.catalog.selectors import get_visible_dataset
from moderation_data.query import arrow, records
from moderation_data.query import serializers as s
from moderation_data.releases import pseudonyms
from moderation_data.releases.api import RELEASE_PATH, VERSION
from moderation_data.releases.selectors import get_release_for_rows
from platform_api.audit import scrub
from platform_api.dataapi import AuditedAPIView
from platform_api.openapi import error_responses
from platform_api.renderers import FastJSONRenderer
from researchers.authentication import grant_of
from researchers.permissions import HasDatasetScope, HasRecordsAccess
from researchers.quotas import reserve_records

# Worked examples of request bodies: real queries on the moderation-decisions codebook (docs/query.md).
VIOLENT_EXTREMISM_SINCE_2025 = {
    "and": [
        {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]},
        {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
    ]
}
PARTNER_ALERTS_DE_FR_NOT_REINSTATED = {
    "and": [
        {"operation": "IN", "field_name": "country", "field_values": ["DE", "FR"]},
        {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
    ],
    "or": [
        {"operation": "EQ", "field_name": "detection_source", "field_values": ["partner_alert"]},
        {"operation": "EQ", "field_name": "source_type", "field_values": ["SOURCE_TRUSTED_FLAGGER"]},
    ],
    "not": [{"operation": "EQ", "field_name": "reinstated", "field_values": [True]}],
}
RECORDS_EXAMPLES = [
    OpenApiExample(
        "Violent extremism since 2025, first page",
        value={
            "query": VIOLENT_EXTREMISM_SINCE_2025,
            "fields": ["account_id", "decided_on", "detection_source", "country"],
            "page_size": 1000,
            "cursor": None,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Partner alerts or trusted flaggers in DE/FR, not reinstated; the next page",
        value={
            "query": PARTNER_ALERTS_DE_FR_NOT_REINSTATED,
            "fields": ["decision_id", "policy", "decided_on", "appeal_outcome"],
            "page_size": 500,
            "cursor": "<next_cursor of the previous page>",
        },
        request_only=True,
    ),
]
COUNT_EXAMPLES = [
    OpenApiExample("Violent extremism since 2025", value={"query": VIOLENT_EXTREMISM_SINCE_2025}, request_only=True),
    OpenApiExample(
        "Appealed automated removals that were reversed",
        value={
            "query": {
                "and": [
                    {
                        "operation": "EQ",
                        "field_name": "automated_decision",
                        "field_values": ["AUTOMATED_DECISION_FULLY"],
                    },
                    {"operation": "EQ", "field_name": "appeal_outcome", "field_values": ["reversed"]},
                ]
            }
        },
        request_only=True,
    ),
]


class RecordsNegotiation(DefaultContentNegotiation):
    """``format`` is this endpoint's layout parameter (objects or columns), not DRF's renderer override."""

    settings = types.SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class RecordsView(AuditedAPIView):
    permission_classes = [HasDatasetScope, HasRecordsAccess]
    # JSON unless the client asks for an Arrow stream (Accept: application/vnd.apache.arrow.stream).
    renderer_classes = [FastJSONRenderer, arrow.ArrowStreamRenderer]
    content_negotiation_class = RecordsNegotiation

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        if response.status_code >= 400 and isinstance(
            getattr(request, "accepted_renderer", None), arrow.ArrowStreamRenderer
        ):
            # Errors are always the JSON envelope, whatever the client accepts for pages.
            request.accepted_renderer, request.accepted_media_type = FastJSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        operation_id="records_list",
        summary="Rows of a release (GET form of the query language)",
        description=(
            "Rows of a release, a page at a time. Filters are query parameters: `field=value`, `field__in=a,b`, "
            "`field__gte=…` (also `__gt`, `__lt`, `__lte`, `__ne`), all of which must hold; `fields=a,b,c` picks "
            "the columns; `page_size` (1–1000, default 100); `cursor` is `next_cursor` of the previous page. "
            "Example: `?policy=violent_extremism&decided_on__gte=2025-01-01&country__in=DE,FR&page_size=1000`. "
            "Values are checked against the codebook: a mistake answers 400 `invalid_query` saying what was "
            "expected, never an empty page. Pages spend your daily record quota."
        ),
        parameters=[
            SLUG,
            VERSION,
            OpenApiParameter("fields", OpenApiTypes.STR, description="comma-separated field names"),
            OpenApiParameter(
                "page_size",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": records.MAX_PAGE_SIZE,
                    "default": records.DEFAULT_PAGE_SIZE,
                },
                description=f"1–{records.MAX_PAGE_SIZE}, default {records.DEFAULT_PAGE_SIZE}",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of the previous page"),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["objects", "columns"],
                description="`objects` (default): `data` is a list of row objects; `columns`: `data` maps each "
                "field to the list of its values, and list fields equal to a named set of the codebook "
                "(`named_sets`, e.g. `EEA`) carry its short code",
            ),
        ],
        responses={200: s.RecordsPageSerializer, **error_responses(400, 401, 403, 404, 429, 503)},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        params = s.RecordsGetSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = {
            k: v for k, v in request.query_params.lists() if k not in {"fields", "page_size", "cursor", "format"}
        }
        self.audit["query"] = scrub({k: v if len(v) > 1 else v[0] for k, v in filters.items()})
        release = get_release_for_rows(get_visible_dataset(grant_of(request), slug), version)
        query = records.build_query(
            release, get_params=filters, requested_fields=params.validated_data.get("fields"), grant=grant_of(request)
        )
        return self._page(request, query, params.validated_data)

    @extend_schema(
        operation_id="records_query",
        summary="Rows of a release (JSON query language)",
        description=(
            "The query language of the TikTok Research API: `and` (all hold), `or` (at least one holds), `not` "
            "(none holds) lists of conditions `{operation, field_name, field_values}` or nested groups. "
            "Operations: EQ, IN, NE for every filterable field; GT, GTE, LT, LTE for dates, months, buckets and "
            "integers. Send `next_cursor` back as `cursor` with the same query and fields until `has_more` is "
            "false: every matching row comes exactly once. Use the version in `release` (not `latest`) for the "
            "rest of a walk. A page never returns more rows than remain of your daily record quota."
        ),
        parameters=[SLUG, VERSION],
        request=s.RecordsBodySerializer,
        examples=RECORDS_EXAMPLES,
        responses={200: s.RecordsPageSerializer, **error_responses(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        body = s.RecordsBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.audit["query"] = scrub({k: v for k, v in body.validated_data.items() if k != "cursor"})
        release = get_release_for_rows(get_visible_dataset(grant_of(request), slug), version)
        query = records.build_query(
            release,
            body_query=body.validated_data.get("query"),
            requested_fields=body.validated_data.get("fields"),
            grant=grant_of(request),
        )
        return self._page(request, query, body.validated_data)

    def _page(self, request: Request, query: records.RecordsQuery, options: dict) -> Response:
        self.audit["release"] = query.release.version
        after = records.decode_after(query, options.get("cursor"))
        grant = grant_of(request)
        # Reserve rows before reading: concurrent pages can never overshoot the daily quota.
        as_arrow = isinstance(request.accepted_renderer, arrow.ArrowStreamRenderer)
        layout = options.get("format") or "objects"
        # Everything that can still fail (the overlap count can time out → 503, the Arrow table) runs
        # inside the reservation: a page that answers 5xx gives its rows back (docs/quotas.md).
        with reserve_records(grant, options.get("page_size") or records.DEFAULT_PAGE_SIZE) as held:
            project = pseudonyms.for_grant(grant, query.release)
            if as_arrow:
                rows_page = records.fetch_page_rows(query, after=after, limit=held.taken, project=project)
                held.use(rows_page.count)
                headers = {
                    "X-Next-Cursor": rows_page.next_cursor or "",
                    "X-Has-More": "true" if rows_page.next_cursor else "false",
                    "X-Release": query.release.version,
                    "X-Generalized-Overlap": str(records.generalized_overlap(query)),
                }
                table = arrow.page_table(query, rows_page)
            else:
                page = records.fetch_page(query, after=after, limit=held.taken, project=project, layout=layout)
                held.use(page.rows)
                overlap = records.generalized_overlap(query)
        if as_arrow:
            self.audit["rows_returned"] = rows_page.count
            return Response(table, headers=headers)
        self.audit["rows_returned"] = page.rows
        body = {
            # Already JSON (rendered by PostgreSQL): the orjson renderer embeds it as is.
            "data": orjson.Fragment(page.data_json),
            "next_cursor": page.next_cursor,
            "has_more": page.next_cursor is not None,
            "release": query.release.version,
            "generalized_overlap": overlap,
        }
        if layout == "columns":
            body["format"] = "columns"
        return Response(body)


class CountView(AuditedAPIView):
    permission_classes = [HasDatasetScope, HasRecordsAccess]

    @extend_schema(
        operation_id="records_count",
        summary="Number of rows matching a query",
        description=(
            "How many rows of the release match a query (same language as the records endpoint), without "
            "spending your record quota: size a walk or an export before starting it."
        ),
        parameters=[SLUG, VERSION],
        request=s.CountBodySerializer,
        examples=COUNT_EXAMPLES,
        responses={200: s.CountSerializer, **error_responses(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        body = s.CountBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.audit["query"] = scrub(body.validated_data)
        release = get_release_for_rows(get_visible_dataset(grant_of(request), slug), version)
        self.audit["release"] = release.version
        query = records.build_query(release, body_query=body.validated_data.get("query"), grant=grant_of(request))
        body = {
            "count": records.count(query),
            "release": release.version,
            "generalized_overlap": records.generalized_overlap(query),
        }
        return Response(s.CountSerializer(body).data)


urlpatterns = [
    path(f"{RELEASE_PATH}/records", RecordsView.as_view(), name="records"),
    path(f"{RELEASE_PATH}/count", CountView.as_view(), name="count"),
]
