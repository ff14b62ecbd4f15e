"""Request ids and the one-line-per-request access log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("platform_api.request")

# An incoming id is kept only if it is short and harmless to log and echo back.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def set_log_client(request: HttpRequest, client: str) -> None:
    """Name the authenticated client in the access log (called by authentication)."""
    # DRF wraps the Django request; the middleware only sees the inner one.
    getattr(request, "_request", request).log_client = client


def set_log_path(request: HttpRequest, path: str) -> None:
    """Log ``path`` instead of the request's (for URLs that carry a one-time token, e.g. invitation links)."""
    getattr(request, "_request", request).log_path = path


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        response = self.get_response(request)
        charged = getattr(request, "ratelimit_charged", None)
        if charged and response.status_code == 429:
            # Refused with 429 by the view after the throttle admitted it (a quota or allowance used
            # up): a refused request never counts (docs/quotas.md), in any window.
            from platform_api.ratelimit import refund

            refund(charged)
        elif charged and response.status_code >= 500:
            # A request that failed on our side never counts against a daily quota; it still counts
            # in the per-minute windows, so a flood of failing requests is throttled like any other.
            from platform_api.ratelimit import DAY, refund

            refund([window for window in charged if window.seconds >= DAY])
        response["X-Request-ID"] = request.request_id
        for header, value in getattr(request, "ratelimit_headers", {}).items():
            # The view's own limit headers win (a records-quota 429 names the records window).
            if header not in response:
                response[header] = value
        logger.info(
            "request",
            extra={
                "request_id": request.request_id,
                "client": getattr(request, "log_client", None) or _user(request),
                "method": request.method,
                # The path only: query strings may carry tokens or personal filters.
                "path": getattr(request, "log_path", None) or request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response


def _user(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return "anonymous"
