"""OWASP API5:2023 Broken Function Level Authorization.

Staff functions (Django admin: vetting, grants, audit log, releases) refuse research clients'
bearer tokens and researchers' portal sessions. Every URL pattern of the project is walked: every
API view declares its permission classes itself (none relies on an inherited default), and every
route answers an anonymous caller with a refusal (400/401/403/404/405 or a redirect to a login page)
unless it is in an explicit list of public routes.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from tests.api_fixtures import make_research_client
from tests.security.figures import record

pytestmark = pytest.mark.django_db

# Routes anyone may call, each for a reason (matched against the route with converters as <name>).
PUBLIC = {
    r"^healthz$": "health check",
    r"^api/v1/$": "API root (lists endpoints)",
    r"^api/v1/public/": "public catalogue and enforcement summary (per-IP limits)",
    r"^api/(schema|docs|redoc)$": "API documentation",
    r"^oauth/(token|revoke_token)$": "OAuth endpoints (client authentication in the request)",
    r"^portal/docs/": "guides and codebooks",
    r"^portal/releases/": "release citation pages",
    r"^portal/(login|register|logout|password[-_]reset|reset|verify-email|invitations/<token>|catalogue)": "auth",
    r"^admin/login/$": "admin login form",
    r"^admin/logout/$": "admin logout",
    r"^admin/password_reset": "admin password reset",
    r"^admin/r/": "admin 'view on site' shortcut (redirects to login when anonymous)",
}
FILL = {"slug": "moderation-decisions", "version": "latest", "export_id": "00000000-0000-4000-8000-000000000000",
        "pk": "1", "object_id": "1", "token": "x", "app_label": "researchers", "page": "x", "path": "x"}  # fmt: skip


def walk(patterns=None, prefix: str = ""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def concrete(route: str) -> str | None:
    """A URL for a route, its parameters filled in; None for regex routes that cannot be filled."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: FILL.get(m.group(1), "1"), route)
    if re.search(r"[\\()\[\]*+?|]", path.replace("^", "").replace("$", "")):
        return None
    return "/" + path.replace("^", "").replace("$", "")


def is_public(route: str) -> bool:
    return any(re.search(rule, route) for rule in PUBLIC)


def test_every_api_view_declares_its_permissions_explicitly():
    undeclared = []
    for route, callback in walk():
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if cls is None or not issubclass(cls, APIView):
            continue
        declared = any("permission_classes" in vars(klass) for klass in cls.__mro__ if klass is not APIView)
        wrapped = getattr(callback, "initkwargs", {}).get("permission_classes")
        if not (declared or wrapped):
            undeclared.append(route)
    # drf-spectacular's schema views: public by their own setting (SERVE_PERMISSIONS).
    assert [r for r in undeclared if not r.startswith("api/schema")] == []


def test_every_route_refuses_an_anonymous_caller_unless_it_is_public(client):
    walked, refused, open_routes = 0, 0, []
    for route, _ in walk():
        url = concrete(route)
        if url is None or is_public(route) or "static" in route or route.endswith("^"):  # (catch-all 404s)
            continue
        walked += 1
        response = client.get(url)
        redirect = response.get("Location", "")
        ok = response.status_code in (400, 401, 403, 404, 405) or (
            response.status_code == 302 and ("login" in redirect)
        )
        if not ok:
            open_routes.append((route, response.status_code))
        refused += ok
    assert open_routes == []
    assert walked >= 40
    record("API5 routes walked anonymously (all refused)", refused)


def test_research_tokens_cannot_reach_staff_functions(release, client):
    research = make_research_client()
    staff_urls = ["/admin/", "/admin/researchers/accessgrant/", "/admin/researchers/application/",
                  f"/admin/researchers/accessgrant/{research.grant.pk}/change/", "/admin/platform_api/accessevent/",
                  "/admin/moderation_data/release/"]  # fmt: skip
    for url in staff_urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {research.token}")
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (url, method)


def test_a_researchers_portal_session_cannot_reach_staff_functions(release, client):
    from researchers.models import AccessGrant

    research = make_research_client()
    client.force_login(research.grant.application.principal_researcher.user)
    before = AccessGrant.objects.values().get(pk=research.grant.pk)
    for url in (
        "/admin/",
        "/admin/researchers/accessgrant/",
        f"/admin/researchers/accessgrant/{research.grant.pk}/change/",
    ):
        assert client.get(url).status_code == 302
    response = client.post(
        f"/admin/researchers/accessgrant/{research.grant.pk}/change/", {"records_per_day": 10**9, "status": "active"}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert AccessGrant.objects.values().get(pk=research.grant.pk) == before
    # ...and the API does not take a portal session for a token.
    assert client.get("/api/v1/me").status_code == 401
