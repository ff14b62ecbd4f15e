"""OWASP API2:2023 Broken Authentication.

Every route of the schema that needs a token is called with tokens that must not work: expired,
revoked, of a suspended or revoked grant, malformed, issued by another server, and a valid token
sent in the query string. Each answers 401 ``authentication_failed`` with a ``WWW-Authenticate``
challenge and never data. (Lockout fairness on the token endpoint, per client id and IP, is
issue 15's finding that hfix fixes: tests/security/test_findings_*.)
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from oauth2_provider.models import AccessToken

from researchers import services
from tests.api_fixtures import make_research_client
from tests.researchers.factories import StaffFactory
from tests.security.figures import record
from tests.security.support import fill, needs_token, operations

pytestmark = pytest.mark.django_db

VALUES = {"slug": "moderation-decisions", "version": "latest", "export_id": "00000000-0000-4000-8000-000000000000"}
TOKEN_ROUTES = [(m, fill(p, **VALUES)) for m, p, op in operations() if needs_token(op)]


def request(http, method: str, path: str, **headers):
    if method in ("GET", "DELETE"):
        return getattr(http, method.lower())(path, **headers)
    return http.generic(method, path, "{}", content_type="application/json", **headers)


def assert_every_route_refuses(http, *, header: str | None = None, query: str = "") -> int:
    headers = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    for method, path in TOKEN_ROUTES:
        response = request(http, method, path + query, **headers)
        assert response.status_code == 401, (method, path, response.status_code, response.content[:200])
        assert response.json()["error"]["code"] == "authentication_failed"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b'"data"' not in response.content
    return len(TOKEN_ROUTES)


@pytest.fixture
def research(release):
    return make_research_client()


def test_the_routes_under_test_are_every_token_route_of_the_schema():
    assert len(TOKEN_ROUTES) >= 12
    assert ("GET", "/api/v1/me") in TOKEN_ROUTES


def test_an_expired_token_is_refused_everywhere(research):
    AccessToken.objects.update(expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert_every_route_refuses(research.http, header=f"Bearer {research.token}")


def test_a_revoked_token_is_refused_everywhere(research):
    basic = base64.b64encode(f"{research.client_id}:{research.secret}".encode()).decode()
    revoked = research.http.post("/oauth/revoke_token", {"token": research.token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert revoked.status_code == 200
    assert_every_route_refuses(research.http, header=f"Bearer {research.token}")


@pytest.mark.parametrize("change", ["suspend_grant", "revoke_grant"])
def test_a_token_of_a_suspended_or_revoked_grant_is_refused_everywhere(research, change):
    assert research.get("/api/v1/me").status_code == 200
    getattr(services, change)(research.grant, actor=StaffFactory(), reason="security test")
    assert_every_route_refuses(research.http, header=f"Bearer {research.token}")


def _foreign_jwt() -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"iss": "https://other-server.example", "sub": "client", "scope": "exports dataset:moderation-decisions"}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not a token",
        "bearer " + "A" * 30,
        "Bearer " + "x" * 5000,
        "Basic Zm9vOmJhcg==",
        "Token abc",
        "Bearer " + secrets.token_urlsafe(30),  # the shape this server issues, but another server's
        "Bearer " + _foreign_jwt(),  # a JWT of another issuer with every scope claimed
    ],
    ids=["empty", "blank", "spaces", "lowercase", "huge", "basic", "token-scheme", "other-server", "foreign-jwt"],
)
def test_malformed_and_other_servers_tokens_are_refused_everywhere(research, header):
    assert_every_route_refuses(research.http, header=header)


def test_a_valid_token_in_the_query_string_is_refused_everywhere(research):
    routes = assert_every_route_refuses(research.http, query=f"?access_token={research.token}")
    record("API2 token routes × bad-token kinds refused with 401", routes * 13)
