from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from oauth2_provider.models import AccessToken

from researchers import services
from researchers.models import AccessGrant
from tests.researchers.conftest import assert_nowhere_in_the_database, backdate, basic, obtain_token
from tests.researchers.factories import StaffFactory, make_application

pytestmark = pytest.mark.django_db
ALL_SCOPES = {"dataset:enforcement-summary", "dataset:moderation-decisions", "exports"}


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def token_for(client, issued, **data) -> str:
    _, client_id, secret = issued
    response = obtain_token(client, client_id, secret, **data)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def assert_authentication_failed(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"]["code"] == "authentication_failed"
    assert body["error"]["request_id"] == response["X-Request-ID"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_request_without_scope_gets_exactly_the_grants_scopes(client, issued):
    _, client_id, secret = issued
    response = obtain_token(client, client_id, secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == ALL_SCOPES
    assert "refresh_token" not in body
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]


def test_form_credentials_work_like_http_basic(client, issued):
    _, client_id, secret = issued
    response = client.post(
        "/oauth/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert response.status_code == 200


def test_a_client_can_narrow_its_token_to_a_subset_of_scopes(client, issued):
    token = token_for(client, issued, scope="dataset:moderation-decisions")
    stored = AccessToken.objects.get()
    assert stored.scope == "dataset:moderation-decisions"
    me = client.get("/api/v1/me", **bearer(token)).json()
    assert me["scopes"] == ["dataset:moderation-decisions"]


@pytest.mark.parametrize("scope", ["dataset:secret-dataset", "exports admin", "read write"])
def test_an_over_broad_scope_request_is_refused(client, issued, scope):
    _, client_id, secret = issued
    response = obtain_token(client, client_id, secret, scope=scope)
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid_request"
    assert body["detail"]["oauth_error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_exports_scope_is_not_available_without_the_exports_modality(client, datasets):
    application = make_application(status="submitted", datasets=datasets, modality_requested="records")
    grant = services.approve_application(application, reviewer=StaffFactory())
    secret = services.rotate_client_secret(grant, actor=None)
    assert obtain_token(client, grant.oauth_client.client_id, secret, scope="exports").status_code == 400
    body = obtain_token(client, grant.oauth_client.client_id, secret).json()
    assert set(body["scope"].split()) == {"dataset:enforcement-summary", "dataset:moderation-decisions"}


def test_token_lifetime_comes_from_settings(client, issued):
    from oauth2_provider.settings import oauth2_settings

    with override_settings(
        OAUTH2_PROVIDER={
            **oauth2_settings.user_settings,
            "ACCESS_TOKEN_EXPIRE_SECONDS": 120,
            "ALWAYS_RELOAD_OAUTHLIB_CORE": True,
        }
    ):
        _, client_id, secret = issued
        assert obtain_token(client, client_id, secret).json()["expires_in"] == 120


def test_a_wrong_secret_is_refused_with_the_envelope(client, issued):
    _, client_id, _ = issued
    response = obtain_token(client, client_id, "not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response.json()["error"]["detail"]["oauth_error"] == "invalid_client"


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "implicit"])
def test_other_grant_types_are_refused(client, issued, grant_type):
    _, client_id, secret = issued
    response = client.post(
        "/oauth/token/",
        {"grant_type": grant_type, "username": "x", "password": "y", "code": "z", "refresh_token": "r"},
        HTTP_AUTHORIZATION=basic(client_id, secret),
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("invalid_request", "authentication_failed")
    assert not AccessToken.objects.exists()


def test_the_authorization_endpoint_flows_do_not_exist(client, issued):
    _, client_id, _ = issued
    for response_type in ("code", "token"):
        response = client.get("/oauth/authorize/", {"response_type": response_type, "client_id": client_id})
        assert response.status_code == 404


@pytest.mark.parametrize("change", ["suspend", "revoke", "expire_by_date", "expire_by_task"])
def test_a_token_fails_on_the_very_next_request_once_its_grant_is_inactive(client, issued, change):
    grant, client_id, secret = issued
    token = token_for(client, issued)
    assert client.get("/api/v1/me", **bearer(token)).status_code == 200
    admin = StaffFactory()
    if change == "suspend":
        services.suspend_grant(grant, actor=admin, reason="x")
    elif change == "revoke":
        services.revoke_grant(grant, actor=admin, reason="x")
    elif change == "expire_by_date":
        backdate(grant)  # the nightly task has not run yet: the request-time check refuses it
    else:
        backdate(grant)
        services.expire_grants()
    assert_authentication_failed(client.get("/api/v1/me", **bearer(token)))
    # ...and no new token can be obtained.
    assert obtain_token(client, client_id, secret).status_code == 401


def test_a_token_of_a_grant_suspended_behind_the_services_back_fails_too(client, issued):
    grant, *_ = issued
    token = token_for(client, issued)
    AccessGrant.objects.filter(pk=grant.pk).update(status="suspended")  # tokens still in the table
    assert_authentication_failed(client.get("/api/v1/me", **bearer(token)))


def test_an_expired_token_is_refused(client, issued):
    token = token_for(client, issued)
    AccessToken.objects.update(expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert_authentication_failed(client.get("/api/v1/me", **bearer(token)))


def test_a_revoked_token_is_refused(client, issued):
    _, client_id, secret = issued
    token = token_for(client, issued)
    response = client.post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=basic(client_id, secret))
    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    assert_authentication_failed(client.get("/api/v1/me", **bearer(token)))


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer not-a-token", "Basic Zm9vOmJhcg==", "Bearer " + "x" * 600, "Token abc"]
)
def test_a_malformed_or_unknown_token_is_refused(client, issued, header):
    assert_authentication_failed(client.get("/api/v1/me", HTTP_AUTHORIZATION=header))


def test_a_missing_token_is_refused(client, issued):
    assert_authentication_failed(client.get("/api/v1/me"))


def test_a_token_in_the_query_string_is_refused_even_when_valid(client, issued):
    token = token_for(client, issued)
    assert_authentication_failed(client.get(f"/api/v1/me?access_token={token}"))
    assert_authentication_failed(client.get(f"/api/v1/me?access_token={token}", **bearer(token)))


def test_public_endpoints_need_no_token(client, db):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


def test_tokens_are_stored_only_as_checksums(client, issued):
    token = token_for(client, issued)
    stored = AccessToken.objects.get()
    assert stored.token == ""
    assert stored.token_checksum != token and len(stored.token_checksum) == 64


def test_no_plaintext_secret_or_token_is_anywhere_in_the_database(client, issued):
    grant, client_id, secret = issued
    token = token_for(client, issued)
    rotated = services.rotate_client_secret(grant, actor=None)
    token2 = obtain_token(client, client_id, rotated).json()["access_token"]
    assert_nowhere_in_the_database([secret, rotated, token, token2])


def test_token_endpoint_brute_force_is_limited_per_client_id_and_ip(client, issued, settings):
    settings.OAUTH_TOKEN_BRUTE_FORCE = {"WINDOW_SECONDS": 60, "FAILURES_PER_CLIENT": 3, "FAILURES_PER_IP": 100}
    _, client_id, secret = issued
    for _ in range(3):
        assert obtain_token(client, client_id, "wrong").status_code == 401
    response = obtain_token(client, client_id, secret)  # even the right secret waits now
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0
    # The owner from another IP is not locked out by a stranger's failures (counted per client id and IP).
    assert obtain_token(client, client_id, secret, remote_addr="10.0.0.9").status_code == 200


def test_token_endpoint_brute_force_is_limited_per_ip(client, issued, settings):
    settings.OAUTH_TOKEN_BRUTE_FORCE = {"WINDOW_SECONDS": 60, "FAILURES_PER_CLIENT": 100, "FAILURES_PER_IP": 3}
    _, client_id, secret = issued
    for n in range(3):
        assert obtain_token(client, f"guess-{n}", "wrong").status_code == 401
    assert obtain_token(client, client_id, secret).status_code == 429
    assert obtain_token(client, client_id, secret, remote_addr="10.0.0.9").status_code == 200


def test_me_describes_the_grant_with_quotas_and_todays_usage(client, issued, redis_client):
    grant, client_id, _ = issued
    token = token_for(client, issued)
    from platform_api.ratelimit import DAY, Window

    keys = [Window.fixed(name=name, limit=0, seconds=DAY, scope=f"grant:{grant.pk}").key for name in ("day", "records")]
    redis_client.set(keys[0], 7)
    redis_client.set(keys[1], 1234)
    response = client.get("/api/v1/me", **bearer(token))
    redis_client.delete(*keys)
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == client_id
    assert body["project"]["id"] == grant.project_id
    assert body["project"]["title"] == grant.application.title
    assert body["datasets"] == ["enforcement-summary", "moderation-decisions"]
    assert body["modality"] == "records_and_exports"
    assert body["valid_until"] == grant.valid_until.isoformat()
    assert body["quotas"] == {
        "requests_per_minute": 60,
        "requests_per_day": 1000,
        "records_per_day": 100000,
        "concurrent_exports": 2,
        "export_rows_per_month": 10_000_000,
    }
    assert body["usage_today"]["requests"] in (7, 8)  # 8 if this request itself was counted
    assert body["usage_today"]["records"] == 1234
    assert body["researchers"][0]["role"] == "principal researcher"
    assert len(body["researchers"]) == 3


def test_a_grant_that_has_not_started_answers_grant_inactive(client, issued):
    grant, *_ = issued
    token = token_for(client, issued)
    start = dt.date.today() + dt.timedelta(days=5)
    AccessGrant.objects.filter(pk=grant.pk).update(valid_from=start, valid_until=start + dt.timedelta(days=5))
    response = client.get("/api/v1/me", **bearer(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "grant_inactive"


def test_a_public_endpoint_treats_a_bad_or_query_string_token_as_anonymous(client, db):
    response = client.get("/api/v1/?access_token=abc", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200


def test_deploy_checks_of_the_oauth_settings_are_clean():
    from django.core.checks import run_checks

    messages = [m for m in run_checks(include_deployment_checks=True) if m.id.startswith("oauth2_provider")]
    assert messages == []


def test_credentials_in_the_token_endpoints_query_string_are_refused(client, issued):
    _, client_id, secret = issued
    response = client.post(
        f"/oauth/token/?client_id={client_id}&client_secret={secret}", {"grant_type": "client_credentials"}
    )
    assert response.status_code in (400, 401)
    assert not AccessToken.objects.exists()


def test_revoking_with_a_wrong_secret_is_refused(client, issued):
    _, client_id, _ = issued
    token = token_for(client, issued)
    response = client.post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=basic(client_id, "nope"))
    assert response.status_code == 401
    assert AccessToken.objects.exists()


def test_the_database_scan_would_find_a_planted_plaintext_secret(issued):
    grant, _, secret = issued
    researcher = grant.application.principal_researcher
    researcher.affiliation = f"lab {secret[:60]}"
    researcher.save()
    with pytest.raises(AssertionError, match=r"researchers_researcher\.affiliation"):
        assert_nowhere_in_the_database([secret[:60]])


def test_me_costs_a_fixed_number_of_queries(client, issued, django_assert_num_queries):
    token = token_for(client, issued)
    # The first request of the day also reads the day's counts from the audit log (docs/quotas.md).
    assert client.get("/api/v1/me", **bearer(token)).status_code == 200
    # Token, grant and datasets, this month's exports, the privacy budgets (one query without releases), and
    # the audit event (savepoint, lock, chain head, insert).
    with django_assert_num_queries(11, exact=False):
        assert client.get("/api/v1/me", **bearer(token)).status_code == 200
