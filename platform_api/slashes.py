"""One slash convention for the whole API (docs/api.md): paths are written without a trailing slash
(``/api/v1/datasets``, ``/oauth/token``), and the other spelling is served as the same resource, with
no redirect, so a POST never turns into a GET or an HTML error page.

Only paths under ``/api/`` and ``/oauth/`` are touched; the portal and admin keep Django's own
convention (a trailing slash, added by a redirect).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver

PREFIXES = ("/api/", "/oauth/")
# URL names of the catch-all views that answer an enveloped 404 for any other /api/ path.
CATCH_ALL_PREFIX = "_api-not-found"


def _served(path: str, urlconf: str | None) -> bool:
    """Whether ``path`` resolves to a real view (not to the API's catch-all 404)."""
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return False
    return not (match.url_name or "").startswith(CATCH_ALL_PREFIX)


class TrailingSlashMiddleware:
    """Serve ``/api/...`` and ``/oauth/...`` with or without a trailing slash (before CommonMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(PREFIXES) and not _served(path, getattr(request, "urlconf", None)):
            other = path[:-1] if path.endswith("/") else f"{path}/"
            if _served(other, getattr(request, "urlconf", None)):
                request.path_info = other
                request.path = request.path[: len(request.path) - len(path)] + other
        return self.get_response(request)
