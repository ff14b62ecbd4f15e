"""Release endpoints: a release's metadata (for its readers) and the public enforcement summary (for anyone)."""

from __future__ import annotations

import difflib
import re

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from moderation_data.aggregates.selectors import latest_public_summary, public_summary_cells, public_summary_values
from moderation_data.aggregates.serializers import PublicSummaryQuerySerializer, PublicSummaryResponseSerializer
from moderation_data.catalog.api import SLUG
from moderation_data.catalog.selectors import get_visible_dataset
from moderation_data.query import language as ql
from moderation_data.releases import citation as cite
from moderation_data.releases import selectors
from moderation_data.releases.serializers import CitationSerializer, ReleaseDetailSerializer
from platform_api.dataapi import AuditedAPIView
from platform_api.errors import InvalidRequest, NotFoundError
from platform_api.openapi import error_responses
from platform_api.throttling import PublicAnonThrottle
from researchers.authentication import grant_of
from researchers.permissions import HasDatasetScope

VERSION = OpenApiParameter(
    "version", OpenApiTypes.STR, OpenApiParameter.PATH, description="release version, or `latest`"
)
RELEASE_PATH = "datasets/<slug:slug>/releases/<str:version>"


class ReleaseDetailView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="releases_retrieve",
        summary="Release metadata and citation",
        description=(
            "One release: its version (`latest` names the newest published), the period it covers (the latest "
            "complete day included), row count, sha256, the anonymization parameters and statistics, control "
            "totals (within a DSC grant's data period and fields only; null for the `aggregate` modality), "
            "release notes and how to cite it (`citation`, `citation_metadata`; BibTeX and RIS at "
            "`.../citation?format=bibtex`). Pin the version it reports in the walks you start."
        ),
        parameters=[SLUG, VERSION],
        responses={200: ReleaseDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        grant = grant_of(request)
        release = selectors.get_published_release(get_visible_dataset(grant, slug), version)
        self.audit["release"] = release.version
        # Control totals within the grant's data limits and modality only (docs/dsa-article-40.md).
        return Response(ReleaseDetailSerializer(release, context={"grant": grant}).data)


class CitationView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="releases_citation",
        summary="How to cite a release: text, BibTeX or RIS",
        description=(
            "The citation of one release: provider, dataset, version, period, row count, sha256, persistent URL "
            "and DOI (if any). `format=json` (default) gives the facts; `text`, `bibtex` and `ris` give a file "
            "to paste into a reference manager (BibTeX `@misc`, RIS `TY  - DATA`). `latest` resolves to the "
            "newest release: cite the version it names."
        ),
        parameters=[
            SLUG,
            VERSION,
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(cite.FORMATS), description="default json"),
        ],
        responses={
            (200, "application/json"): CitationSerializer,
            (200, "application/x-bibtex"): OpenApiTypes.STR,
            (200, "application/x-research-info-systems"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def get(self, request: Request, slug: str, version: str):
        fmt = request.query_params.get("format", "json")
        if fmt not in cite.FORMATS:
            raise InvalidRequest(
                f"Unknown citation format {fmt!r}; use one of: {', '.join(cite.FORMATS)}.",
                detail={"format": [f"one of {', '.join(cite.FORMATS)}"]},
            )
        release = selectors.get_published_release(get_visible_dataset(grant_of(request), slug), version)
        self.audit["release"] = release.version
        if fmt == "json":
            return Response(CitationSerializer(cite.metadata(release)).data)
        response = HttpResponse(cite.render(release, fmt), content_type=cite.CONTENT_TYPES[fmt])
        filename = f"{cite.bibtex_key(release)}.{cite.EXTENSIONS[fmt]}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # ``format`` names the citation format here, not a renderer: errors and JSON render as JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type


def _refuse_unknown_parameters(params) -> None:
    """400 for a query parameter the summary does not know: a typo (``dimensions``) or a filter it does not
    have (``month``) would otherwise answer the whole summary as if unfiltered. Worded like the records
    endpoint's refusal (docs/query.md); ``format`` is DRF's renderer override, not a filter."""
    known = list(PublicSummaryQuerySerializer().fields)
    unknown = [key for key in params if key not in known and key != api_settings.URL_FORMAT_OVERRIDE]
    if not unknown:
        return
    hints, detail = [], {}
    for key in unknown:
        if key.casefold() in ("month", "months"):
            hint = "give month_from and month_to (YYYY-MM), the same month in both for one month."
        else:
            close = difflib.get_close_matches(key.casefold(), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else ""
        if hint:
            hints.append(f"{key!r}: {hint}")
        detail[key] = ["Unknown parameter" + (f"; {hint}" if hint else ".")]
    raise InvalidRequest(
        f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
        + (" ".join(hints) + " " if hints else "")
        + f"Parameters of this endpoint: {', '.join(known)}.",
        detail=detail,
    )


def _check_summary_value(summary, dimension: str, value: str) -> None:
    """400 for a value outside the dimension's domain (``de`` for ``country``), which would match no cell:
    the query language's wording and suggestion for case slips (``did you mean "DE"?``)."""
    domain = public_summary_values(summary, dimension)
    try:
        ql._check_domain(ql.Field(dimension, "string", dimension, values=domain), value, value)
    except ql._BadValue as exc:
        reason = f"{exc}."
        if dimension == "country" and re.fullmatch(r"[A-Z]{2}", value):
            reason += " Countries outside the EEA are counted under 'NON_EEA'."
        listed = f" Values of {dimension!r}: {', '.join(domain)}." if len(domain) <= ql.MAX_LISTED_VALUES else ""
        raise InvalidRequest(f"Invalid value: {reason}{listed}", detail={"value": [reason]}) from None


class EnforcementSummaryView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicAnonThrottle]

    @extend_schema(
        operation_id="public_enforcement_summary",
        summary="Public enforcement summary (differentially private)",
        description=(
            "Decisions per month by policy, detection source, country or region, appeal outcome and action, from "
            "the newest published release, like a platform's transparency report. Every cell is a noisy count from "
            "the same differentially private mechanism as the aggregates, with the release's public ε, noise scale "
            "and 95% interval stated; the values are computed once, so every caller gets the same ones. "
            "An unknown parameter, or a `value` outside the `dimension`'s values, answers 400 `invalid_request` "
            "(never the unfiltered summary or an empty page). "
            "No authentication; rate limited per client address. See docs/aggregates.md."
        ),
        parameters=[PublicSummaryQuerySerializer],
        responses={
            200: PublicSummaryResponseSerializer,
            **error_responses(
                400,
                404,
                429,
                s400="invalid_request: a filter is malformed, an unknown parameter, or a value outside its dimension",
                s404="not_found: no release has been published yet",
                s429="rate_limited (see Retry-After)",
            ),
        },
        auth=[],
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        _refuse_unknown_parameters(request.query_params)
        query = PublicSummaryQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidRequest("The filters are invalid; see detail.", detail=query.errors)
        params = query.validated_data
        summary = latest_public_summary()
        if summary is None:
            raise NotFoundError("No enforcement summary has been published yet.")
        if params.get("value"):
            _check_summary_value(summary, params["dimension"], params["value"])
        release = summary.release
        cells = public_summary_cells(
            summary,
            month_from=params.get("month_from"),
            month_to=params.get("month_to"),
            dimension=params.get("dimension"),
            value=params.get("value"),
        )
        page, size = params["page"], params["page_size"]
        count = cells.count()
        rows = [
            {
                "month": cell.month,
                "dimension": cell.dimension,
                "value": cell.value,
                "decisions": cell.decisions,
                "noise_scale": summary.noise_scale,
                "ci95": [cell.ci95_low, cell.ci95_high],
            }
            for cell in cells[(page - 1) * size : page * size]
        ]
        body = {
            "release": release.version,
            "period_start": release.period_start,
            "period_end": release.period_end,
            "epsilon": summary.epsilon,
            "mechanism": {
                "name": "discrete Laplace",
                "library": f"OpenDP {summary.opendp_version}",
                "privacy_unit": "account",
                "epsilon": summary.epsilon,
                "contribution_bound": summary.contribution_bound,
                "noise_scale": summary.noise_scale,
                "ci95_half_width": summary.ci95_half_width,
                "dimensions": summary.dimensions,
            },
            "page": page,
            "page_size": size,
            "count": count,
            "has_more": page * size < count,
            "data": rows,
        }
        return Response(PublicSummaryResponseSerializer(body).data)


urlpatterns = [
    path(RELEASE_PATH, ReleaseDetailView.as_view(), name="release-detail"),
    path(f"{RELEASE_PATH}/citation", CitationView.as_view(), name="release-citation"),
    path("public/enforcement-summary", EnforcementSummaryView.as_view(), name="public-enforcement-summary"),
]
