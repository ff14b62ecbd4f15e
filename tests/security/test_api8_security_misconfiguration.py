"""OWASP API8:2023 Security Misconfiguration.

`manage.py check --deploy` is clean with production settings; errors never show a stack trace or
internals (also with DEBUG off in the tests' own process); every kind of response carries the
security headers; HTTPS responses carry HSTS; cookies are HttpOnly/Secure-capable and SameSite;
CORS is closed (no Access-Control-Allow-Origin for any origin); unused HTTP methods are refused.
"""

from __future__ import annotations

import pytest

from tests.platform_api.test_deploy_check import PRODUCTION_ENV, run_manage
from tests.security.figures import record

pytestmark = pytest.mark.django_db

SAMPLE_URLS = ["/api/v1/", "/api/v1/me", "/api/v1/public/catalogue", "/api/v1/nope", "/healthz", "/portal/login/",
               "/admin/login/", "/api/schema", "/portal/docs/"]  # fmt: skip
LEAKS = (b"Traceback", b'File "/', b"django.db", b"psycopg", b"SELECT ", b"/work/", b"site-packages", b"DEBUG = True")


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_and_errors_show_no_internals(client, settings):
    assert settings.DEBUG is False
    bad = [
        client.post("/api/v1/exports", "{not json", content_type="application/json"),
        client.get("/api/v1/datasets/x/releases/../../../etc/passwd"),
        client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer ' OR 1=1 --"),
        client.generic("PROPFIND", "/api/v1/me"),
        client.get("/portal/no-such-page/"),
        client.get("/admin/no-such-page/"),
        client.post("/oauth/token", {"grant_type": "password", "username": "x", "password": "y"}),
    ]
    for response in bad:
        admin_login = response.status_code == 302 and response["Location"].startswith("/admin/login/")
        assert response.status_code in (400, 401, 404, 405) or admin_login, response.status_code
        assert not any(leak in response.content for leak in LEAKS), response.content[:300]


@pytest.mark.parametrize("url", SAMPLE_URLS)
def test_every_kind_of_response_carries_the_security_headers(client, url):
    response = client.get(url)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Request-ID"]
    if response["Content-Type"].startswith("text/html"):
        assert response["X-Frame-Options"] == "DENY"
    assert "Server" not in response or "python" not in response["Server"].lower()


def test_https_responses_carry_hsts(client, settings):
    assert settings.SECURE_HSTS_SECONDS >= 31_536_000
    response = client.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"].startswith(f"max-age={settings.SECURE_HSTS_SECONDS}")


def test_cookies_are_httponly_and_samesite(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE in ("Lax", "Strict")
    assert settings.CSRF_COOKIE_SAMESITE in ("Lax", "Strict")


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:8000"])
def test_cors_is_closed_for_every_origin(client, origin):
    checked = 0
    for url in SAMPLE_URLS:
        preflight = client.options(
            url, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
        )  # fmt: skip
        simple = client.get(url, HTTP_ORIGIN=origin)
        for response in (preflight, simple):
            assert "Access-Control-Allow-Origin" not in response
            assert "Access-Control-Allow-Credentials" not in response
            checked += 1
    record("API8 responses checked for CORS headers per origin", checked)


def test_methods_outside_the_schema_are_refused(client):
    for method in ("PUT", "PATCH", "TRACE", "PROPFIND"):
        response = client.generic(method, "/api/v1/public/catalogue")
        assert response.status_code == 405, (method, response.status_code)
        assert set(response.json()) == {"error"}
