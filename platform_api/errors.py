"""The one error envelope: every error, from our code, DRF or Django, becomes

    {"error": {"code": "...", "message": "...", "detail": {...}, "request_id": "..."}}

No stack trace, SQL or secret ever reaches a response; unexpected exceptions are
logged with their traceback under the request id and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import OperationalError
from django.db.utils import InterfaceError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from redis import exceptions as redis_errors
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger("platform_api.errors")

JSON_PATH_PREFIXES = ("/api/", "/oauth/", "/healthz")


class PlatformError(Exception):
    """Base for errors we raise on purpose; each carries a machine-readable code."""

    code = "invalid_request"
    status_code = 400
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, *, detail: dict | None = None, headers: dict | None = None):
        self.message = message or self.default_message
        self.detail = detail or {}
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidRequest(PlatformError):
    pass


class InvalidQuery(PlatformError):
    code = "invalid_query"
    default_message = "The query is invalid."


class InvalidCursor(PlatformError):
    code = "invalid_cursor"
    default_message = "The cursor is invalid or belongs to another query."


class AuthenticationFailedError(PlatformError):
    code, status_code = "authentication_failed", 401
    default_message = "Authentication credentials were missing or invalid."


class ScopeMissing(PlatformError):
    code, status_code = "scope_missing", 403
    default_message = "The access token lacks the scope this resource needs."


class PermissionDeniedError(PlatformError):
    code, status_code = "permission_denied", 403
    default_message = "You do not have permission to perform this action."


class GrantInactive(PlatformError):
    code, status_code = "grant_inactive", 403
    default_message = "The access grant is not active."


class PrivacyBudgetExhausted(PlatformError):
    code, status_code = "privacy_budget_exhausted", 403
    default_message = "The privacy budget for this release is exhausted."


class NotFoundError(PlatformError):
    code, status_code = "not_found", 404
    default_message = "Not found."


class Conflict(PlatformError):
    code, status_code = "conflict", 409
    default_message = "The request conflicts with the current state of the resource."


class ExportNotReady(PlatformError):
    code, status_code = "export_not_ready", 409
    default_message = "The export is not ready yet."


class Gone(PlatformError):
    code, status_code = "gone", 410
    default_message = "The resource is no longer available."


class PayloadTooLarge(PlatformError):
    code, status_code = "payload_too_large", 413
    default_message = "The request body is too large."


class RateLimited(PlatformError):
    code, status_code = "rate_limited", 429
    default_message = "Too many requests."


class QuotaExceeded(PlatformError):
    code, status_code = "quota_exceeded", 429
    default_message = "The daily quota is used up."


class Unavailable(PlatformError):
    code, status_code = "unavailable", 503
    default_message = "The service is temporarily unavailable; retry later."


OUTAGE_RETRY_AFTER = 5


def outage_of(exc: BaseException) -> str:
    """``"database"`` or ``"redis"`` when ``exc`` means that server is unreachable, else ``""``."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        return "redis"
    return ""


def log_outage(outage: str, exc: BaseException, request: HttpRequest | None) -> None:
    """One line per refused request, without a traceback: the outage, not our code, is at fault."""
    logger.warning(
        "%s unavailable; answered 503",
        outage,
        extra={"request_id": _request_id(request), "error": type(exc).__name__},
    )


def outage_response(request: HttpRequest, exc: BaseException) -> JsonResponse | None:
    """The 503 ``unavailable`` for a server outage raised outside DRF (plain Django views, middleware)."""
    outage = outage_of(exc)
    if not outage:
        return None
    log_outage(outage, exc, request)
    response = JsonResponse(envelope("unavailable", Unavailable.default_message, request=request), status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    response._has_been_logged = True  # logged once, above (not again by django.request)
    return response


class OutageMiddleware:
    """Database or Redis unreachable in a view outside DRF (the token endpoint, the portal): 503, not 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return outage_response(request, exception)


def _request_id(request: HttpRequest | None) -> str | None:
    return getattr(request, "request_id", None)


def envelope(code: str, message: str, *, detail: dict | None = None, request: HttpRequest | None = None) -> dict:
    return {"error": {"code": code, "message": message, "detail": detail or {}, "request_id": _request_id(request)}}


def _drf_detail(detail: Any) -> Any:
    """DRF's ErrorDetail tree, flattened into plain JSON (lists of strings per field)."""
    if isinstance(detail, dict):
        return {str(key): _drf_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_drf_detail(item) for item in detail]
    return str(detail)


def _from_drf(exc: drf.APIException) -> tuple[str, str, dict, dict]:
    headers: dict[str, str] = {}
    if isinstance(exc, drf.Throttled):
        if exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        return "rate_limited", "Too many requests.", {}, headers
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return "authentication_failed", str(exc.detail), {}, headers
    if isinstance(exc, drf.PermissionDenied):
        return "permission_denied", str(exc.detail), {}, headers
    if isinstance(exc, drf.NotFound):
        return "not_found", "Not found.", {}, headers
    if isinstance(exc, drf.MethodNotAllowed):
        return "invalid_request", str(exc.detail), {}, headers
    if isinstance(exc, drf.ValidationError):
        detail = _drf_detail(exc.detail)
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        return "invalid_request", "The request is invalid; see detail for each field.", detail, headers
    return "invalid_request", str(exc.detail), {}, headers


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: everything a view raises ends here."""
    request = context.get("request")
    if isinstance(exc, PlatformError):
        code, status, message, detail, headers = exc.code, exc.status_code, exc.message, exc.detail, exc.headers
        if isinstance(exc, AuthenticationFailedError):
            headers = {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"', **headers}
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        code, message, detail, headers = _from_drf(exc)
        if status == 401 and "WWW-Authenticate" not in headers:
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, Http404):
        code, status, message, detail, headers = "not_found", 404, "Not found.", {}, {}
    elif isinstance(exc, DjangoPermissionDenied):
        code, status, message, detail, headers = "permission_denied", 403, "Permission denied.", {}, {}
    elif isinstance(exc, RequestDataTooBig):
        code, status, message, detail, headers = "payload_too_large", 413, PayloadTooLarge.default_message, {}, {}
    elif isinstance(exc, SuspiciousOperation):
        code, status, message, detail, headers = "invalid_request", 400, "The request is invalid.", {}, {}
    elif outage := outage_of(exc):
        log_outage(outage, exc, request)
        code, status, message, detail, headers = "unavailable", 503, Unavailable.default_message, {}, {}
        headers = {"Retry-After": str(OUTAGE_RETRY_AFTER)}
    else:
        logger.exception("unhandled exception", extra={"request_id": _request_id(request)})
        code, status, message, detail, headers = "server_error", 500, "An internal error occurred.", {}, {}
    response = Response(envelope(code, message, detail=detail, request=request), status=status, headers=headers)
    if code == "unavailable" and outage_of(exc):
        response._has_been_logged = True  # logged once, by log_outage (not again by django.request)
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES) or "application/json" in request.headers.get("Accept", "")


def _page(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(envelope(code, message, request=request), status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return _page(request, 413, "payload_too_large", PayloadTooLarge.default_message)
    return _page(request, 400, "invalid_request", "The request is invalid.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 403, "permission_denied", "Permission denied.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 404, "not_found", "Not found.")


def handler500(request: HttpRequest) -> HttpResponse:
    return _page(request, 500, "server_error", "An internal error occurred.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(request, 403, "permission_denied", "The form expired or was tampered with; reload and try again.")
