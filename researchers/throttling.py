"""The per-grant throttle: every request of a research client counts against its grant's windows."""

from __future__ import annotations

from rest_framework.request import Request

from platform_api.ratelimit import Window
from platform_api.throttling import LimiterThrottle
from researchers.quotas import request_windows


class GrantRateThrottle(LimiterThrottle):
    """Per-grant requests per minute and per UTC day, limits read from the grant (editable in admin).

    Only audited views count (every data endpoint is one): the day's count is rebuilt from the
    audit log when Redis loses it, so what counts must be what the log records.
    """

    def allow_request(self, request: Request, view) -> bool:
        if not getattr(view, "audited", False):
            return True
        return super().allow_request(request, view)

    def windows(self, request: Request) -> list[Window] | None:
        grant = getattr(request.auth, "grant", None) if request.auth is not None else None
        if grant is None:
            return None
        return request_windows(grant)
