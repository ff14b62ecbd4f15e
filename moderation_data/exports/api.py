"""The exports API (docs/exports.md): request, list, read, cancel, download.

Every route reads through ``Export.objects.visible_to(grant)``: another client's export is simply
not found (404). Every request, downloads included, writes one access event (AuditedAPIView).
"""

from __future__ import annotations

import re

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data.catalog.models import scope_for
from moderation_data.exports import services as exports
from moderation_data.exports.models import Export
from moderation_data.exports.serializers import ExportListSerializer, ExportRequestSerializer, ExportSerializer
from moderation_data.exports.writers import CONTENT_TYPES
from platform_api.audit import scrub
from platform_api.dataapi import AuditedAPIView
from platform_api.errors import ExportNotReady, Gone, PlatformError, ScopeMissing
from platform_api.openapi import error_responses
from researchers.authentication import grant_of
from researchers.permissions import HasExportsScope, token_scopes

LIST_LIMIT = 200
EXPORT_ID = OpenApiParameter("export_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="export id")


class RangeNotSatisfiable(PlatformError):
    code, status_code = "invalid_request", 416
    default_message = "The requested range cannot be satisfied."


def represent(export: Export, request: Request) -> dict:
    """An export as its owner sees it (rendered by ExportSerializer)."""
    status = Export.Status.EXPIRED if exports.is_expired(export) else export.status
    ready = status == Export.Status.READY
    body = {
        "id": str(export.pk),
        "status": status,
        "progress": exports.export_progress(export),
        "dataset": export.release.dataset.slug,
        "release": export.release.version,
        "format": export.format,
        "query": export.query or None,
        "fields": export.fields,
        "row_count": export.row_count,
        "bytes": export.bytes,
        "sha256": export.sha256 or None,
        "created_at": export.created_at,
        "started_at": export.started_at,
        "finished_at": export.finished_at,
        "expires_at": export.expires_at,
        "file_url": request.build_absolute_uri(f"/api/v1/exports/{export.pk}/file") if ready else None,
        "error": export.error or None,
        "manifest": export.manifest,
    }
    return body


# --------------------------------------------------------------------------- views


class ExportListView(AuditedAPIView):
    """Request an export; list the client's own exports."""

    permission_classes = [HasExportsScope]

    @extend_schema(
        operation_id="exports_list",
        summary="This client's exports, newest first",
        description="The 200 most recent exports of the calling client (never another client's).",
        responses={200: ExportListSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        visible = exports.with_progress(Export.objects.visible_to(grant_of(request))).order_by("-created_at")
        return Response(ExportListSerializer({"data": [represent(e, request) for e in visible[:LIST_LIMIT]]}).data)

    @extend_schema(
        operation_id="exports_create",
        summary="Request a bulk export (CSV, JSONL or Parquet)",
        description=(
            "A whole release, or a slice of it, as one file: same query language and field selection as the "
            "records endpoint. The matching rows count against your grant's export allowance (rows per "
            "calendar month), never against the daily record quota; an export that does not fit answers 429 "
            "`quota_exceeded` saying how to ask for more, before anything is queued. At most "
            "`concurrent_exports` exports may be queued or running (429 `rate_limited`). Poll the export until "
            "`status` is `ready`, then download `file_url` and check its sha256. The manifest says how to cite "
            "the release; Parquet files carry it as file metadata."
        ),
        request=ExportRequestSerializer,
        examples=[
            OpenApiExample(
                "The whole latest release as Parquet",
                value={"dataset": "moderation-decisions", "release": "latest", "format": "parquet"},
                request_only=True,
            ),
            OpenApiExample(
                "Violent extremism since 2025 as CSV, four columns, a pinned release",
                value={
                    "dataset": "moderation-decisions",
                    "release": "2026.11.30",
                    "format": "csv",
                    "query": {
                        "and": [
                            {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]},
                            {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
                        ]
                    },
                    "fields": ["account_id", "decided_on", "detection_source"],
                },
                request_only=True,
            ),
        ],
        responses={202: ExportSerializer, **error_responses(400, 401, 403, 404, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        spec = body.validated_data
        self.audit["dataset"] = spec["dataset"]
        self.audit["query"] = scrub({k: v for k, v in spec.items() if k != "dataset"})
        scope = scope_for(spec["dataset"])
        if scope not in token_scopes(request):
            raise ScopeMissing(f"This token lacks the scope {scope}.", detail={"required_scope": scope})
        export = exports.request_export(grant=grant_of(request), spec=spec)
        self.audit["release"] = export.release.version
        return Response(ExportSerializer(represent(export, request)).data, status=202)


class ExportDetailView(AuditedAPIView):
    """One of the client's exports: read it, or cancel it."""

    permission_classes = [HasExportsScope]

    def _export(self, request: Request, export_id) -> Export:
        export = exports.get_visible_export(grant_of(request), export_id)
        self.audit.update(dataset=export.release.dataset.slug, release=export.release.version)
        self.audit["query"] = {"export": str(export.pk)}
        return export

    @extend_schema(
        operation_id="exports_retrieve",
        summary="An export: status, progress, file details and manifest",
        description="Poll until `status` is `ready` (or `failed`); `progress` goes from 0 to 1.",
        parameters=[EXPORT_ID],
        responses={200: ExportSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, export_id) -> Response:
        return Response(ExportSerializer(represent(self._export(request, export_id), request)).data)

    @extend_schema(
        operation_id="exports_cancel",
        summary="Cancel an export (refunding its unused reservation) or delete a ready export's file",
        description=(
            "A queued or running export becomes `cancelled` and its rows go back to your export allowance; a "
            "ready export's file is deleted (`expired`). Idempotent."
        ),
        parameters=[EXPORT_ID],
        responses={200: ExportSerializer, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, export_id) -> Response:
        export = exports.cancel_export(self._export(request, export_id))
        return Response(ExportSerializer(represent(export, request)).data)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as (first, last) inclusive; None means "send the whole file"."""
    header = header.strip()
    if not header.startswith("bytes="):
        return None  # an unknown unit is ignored (RFC 9110 §14.2)
    if "," in header:
        return None  # several ranges: we send the whole file, which RFC 9110 allows
    match = _RANGE.match(header.replace(" ", ""))
    if not match or match.groups() == ("", ""):
        raise RangeNotSatisfiable("Malformed Range header; use e.g. 'bytes=1000-'.", headers=_unsatisfied(size))
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(headers=_unsatisfied(size), detail={"size": size})
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(headers=_unsatisfied(size), detail={"size": size})
    return start, end


def _unsatisfied(size: int) -> dict:
    return {"Content-Range": f"bytes */{size}"}


# Bytes read and sent at a time.
DOWNLOAD_BLOCK = 1 << 20


def _ranged(handle, start: int, length: int):
    block = DOWNLOAD_BLOCK
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(block, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


class ExportFileView(AuditedAPIView):
    """The file of a ready export."""

    permission_classes = [HasExportsScope]

    @extend_schema(
        operation_id="exports_file",
        summary="Download a ready export (streamed; Range supported)",
        description=(
            "`ETag` is the file's sha256; a single `Range: bytes=…` answers 206 so an interrupted download can "
            "resume (`If-Range` with the ETag is honoured). Before the export is ready: 409 `export_not_ready` "
            "with `Retry-After`; after expiry (or if it was cancelled or failed): 410 `gone`."
        ),
        parameters=[EXPORT_ID],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            **error_responses(401, 403, 404, 409, 410, 416, 429),
        },
    )
    def get(self, request: Request, export_id) -> HttpResponse:
        export = exports.get_visible_export(grant_of(request), export_id)
        self.audit.update(dataset=export.release.dataset.slug, release=export.release.version)
        self.audit["query"] = {"export": str(export.pk), "range": request.headers.get("Range", "")}
        exports.check_still_entitled(grant_of(request), export, token_scopes=token_scopes(request))
        if exports.is_expired(export):
            raise Gone("The export has expired and its file was deleted; request it again.")
        if export.status in (Export.Status.FAILED, Export.Status.CANCELLED):
            raise Gone(f"The export was {export.status}; it has no file.")
        if export.status != Export.Status.READY:
            raise ExportNotReady(
                "The export is not ready yet.",
                detail={"status": export.status, "progress": exports.export_progress(export)},
                headers={"Retry-After": str(exports.RETRY_AFTER_SECONDS)},
            )
        size = export.bytes or 0
        etag = f'"{export.sha256}"'
        wanted = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        span = parse_range(wanted, size) if wanted and (not if_range or if_range == etag) else None
        handle = exports.export_storage().open(export.file_name, "rb")
        filename = export.file_name.rsplit("/", 1)[-1]
        start, end = span if span is not None else (0, size - 1)
        length = max(0, end - start + 1)
        counter = exports.SentCounter(size=size, start=start, rows=export.row_count or 0)
        self.audit["file"] = counter
        response = StreamingHttpResponse(
            counter.count(_ranged(handle, start, length)),
            status=200 if span is None else 206,
            content_type=CONTENT_TYPES[export.format],
        )
        response["Content-Length"] = str(length)
        if span is not None:
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["ETag"] = etag
        response["Accept-Ranges"] = "bytes"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


urlpatterns = [
    path("exports", ExportListView.as_view(), name="exports"),
    path("exports/<str:export_id>", ExportDetailView.as_view(), name="export-detail"),
    path("exports/<str:export_id>/file", ExportFileView.as_view(), name="export-file"),
]
