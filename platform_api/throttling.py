"""DRF throttles backed by the exact Redis limiter of platform_api.ratelimit."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from platform_api.errors import RateLimited
from platform_api.ratelimit import Admission, Window, admit


def attach_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers the middleware adds to the response, whatever the view answers."""
    inner = getattr(request, "_request", request)
    inner.ratelimit_headers = headers


def _charged(request: Request, windows: list[Window]) -> None:
    # Remembered so that a 5xx answer can refund the request (see RequestIdMiddleware).
    getattr(request, "_request", request).ratelimit_charged = windows


def refusal(admission: Admission) -> RateLimited:
    """The 429 of a refused request: which window refused, its limit, what remains, when it resets."""
    detail = admission.detail()
    wait = admission.retry_after
    return RateLimited(
        f"Too many requests: the {detail['window']} limit of {detail['limit']} is reached. "
        f"Retry after {wait} s (at {detail['reset_at']}).",
        detail=detail,
        headers={"Retry-After": str(wait)},
    )


class LimiterThrottle(BaseThrottle):
    """A throttle over the exact limiter: subclasses name the windows a request counts in.

    A refused request raises 429 ``rate_limited`` itself (rather than DRF's ``Throttled``), so
    its detail can say which window refused and when it admits again.
    """

    admission: Admission

    def windows(self, request: Request) -> list[Window] | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view) -> bool:
        windows = self.windows(request)
        if not windows:
            return True
        self.admission = admit(windows)
        attach_headers(request, self.admission.headers())
        if not self.admission.admitted:
            raise refusal(self.admission)
        _charged(request, windows)
        return True

    def wait(self) -> float:
        return float(self.admission.retry_after)


class PublicAnonThrottle(LimiterThrottle):
    """Anonymous, per-IP limit for public endpoints (PUBLIC_RATE_LIMIT_PER_MINUTE / _PER_DAY)."""

    def windows(self, request: Request) -> list[Window]:
        scope = f"anon:{self.get_ident(request)}"
        return [
            Window.fixed(name="minute", limit=settings.PUBLIC_RATE_LIMIT_PER_MINUTE, seconds=60, scope=scope),
            Window.fixed(name="day", limit=settings.PUBLIC_RATE_LIMIT_PER_DAY, seconds=86_400, scope=scope),
        ]
