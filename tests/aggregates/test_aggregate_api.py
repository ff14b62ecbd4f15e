"""POST …/aggregate and …/aggregate/estimate: answers, tiers, scopes, bad input, throttling, audit, budgets shown."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from moderation_data.aggregates.dimensions import groupable_fields
from moderation_data.aggregates.models import AggregateAnswer
from platform_api.models import AccessEvent
from tests.api_fixtures import build_published_release, make_research_client

BASE = "/api/v1/datasets/moderation-decisions/releases/latest"
URL = f"{BASE}/aggregate"
ESTIMATE = f"{URL}/estimate"
pytestmark = pytest.mark.django_db


def test_an_aggregate_grant_gets_every_group_of_the_domain_with_noise_scale_and_interval(release):
    researcher = make_research_client(modality="aggregate")
    response = researcher.post(URL, {"group_by": ["policy", "appealed"], "epsilon": 0.5, "query": {
        "and": [{"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]}]}})  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["release"] == release.version and body["dataset"] == "moderation-decisions"
    assert (body["epsilon"], body["epsilon_spent"], body["cached"]) == (0.5, 0.5, False)
    assert body["budget_remaining"] == 4.5 and body["budget"]["epsilon_total"] == 5.0
    assert body["mechanism"]["privacy_unit"] == "account" and body["mechanism"]["contribution_bound"] == 20
    assert body["query"] == {"and": [{"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]}]}
    # 12 policies and null × (true, false, null): both nullable in the codebook (appealed may be withheld),
    # every key answered, zero or not, in order.
    assert len(body["data"]) == 39
    assert [(r["policy"], r["appealed"]) for r in body["data"][:4]] == [
        ("violent_extremism", True), ("violent_extremism", False), ("violent_extremism", None),
        ("hateful_behavior", True),
    ]  # fmt: skip
    for row in body["data"]:
        assert list(row) == ["policy", "appealed", "count", "noise_scale", "ci95"]
        low, high = row["ci95"]
        assert isinstance(row["count"], int) and 0 <= low <= high and row["noise_scale"] == pytest.approx(40.0)
        assert high - max(row["count"], 0) <= math.ceil(40 * math.log(20)) + 1


def test_record_grants_may_ask_for_aggregates_too(release):
    researcher = make_research_client(modality="records_and_exports")
    response = researcher.post(URL, {"epsilon": 0.1})
    assert response.status_code == 200
    assert [list(row) for row in response.json()["data"]] == [["count", "noise_scale", "ci95"]]  # the total


def test_accounts_sums_and_means_are_answered_with_their_own_figures(release):
    researcher = make_research_client(modality="aggregate")
    accounts = researcher.post(URL, {"group_by": ["detection_source"], "measure": "accounts", "epsilon": 0.2})
    assert accounts.status_code == 200 and accounts.json()["mechanism"]["sensitivity"] == {"count": 8.0}
    total = researcher.post(URL, {"measure": "sum", "value": "time_to_action", "epsilon": 0.2}).json()
    assert list(total["data"][0]) == ["sum", "noise_scale", "ci95"]
    assert total["mechanism"]["value"]["unit"] == "hours"
    mean = researcher.post(URL, {"measure": "mean", "value": "views_before_action", "epsilon": 0.4,
                                 "contribution_bound": 1}).json()  # fmt: skip
    row = mean["data"][0]
    assert set(row) == {"mean", "sum", "count", "noise_scale", "count_noise_scale", "ci95"}
    assert 0 <= row["ci95"][0] <= row["ci95"][1] <= 10001


def test_the_estimate_answers_cost_and_error_without_reading_or_spending(release):
    researcher = make_research_client(modality="aggregate")
    estimate = researcher.post(ESTIMATE, {"group_by": ["policy", "country"], "epsilon": 0.25})
    assert estimate.status_code == 200, estimate.content
    body = estimate.json()
    # Policies (12 and null) × countries (30 EEA, 4 regions, NON_EEA, OTHER and null).
    assert body["cells"] == 13 * 37 and body["noise_scale"] == pytest.approx(80.0)
    assert body["expected_absolute_error"] == pytest.approx(80.0, rel=1e-3)
    assert body["ci95_width"] == pytest.approx(2 * 80 * math.log(20), rel=1e-3)
    assert body["vectors"]["count"]["standard_deviation"] == pytest.approx(80 * math.sqrt(2), rel=1e-3)
    assert AggregateAnswer.objects.count() == 0


def test_an_aggregate_only_grant_is_refused_everything_row_level(release):
    researcher = make_research_client(modality="aggregate", scope="dataset:moderation-decisions")
    for method, path in (("get", f"{BASE}/records"), ("post", f"{BASE}/records"), ("post", f"{BASE}/count")):
        refused = getattr(researcher, method)(path)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    export = researcher.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv"})
    assert export.status_code == 403 and export.json()["error"]["code"] == "scope_missing"
    # The catalog, the codebook (which marks groupable fields), release metadata and the public summary stay open.
    codebook = researcher.get("/api/v1/datasets/moderation-decisions").json()["codebook"]
    assert [f["name"] for f in codebook if f["groupable"]] == groupable_fields(release)
    assert researcher.get(BASE).status_code == 200
    assert Client().get("/api/v1/public/enforcement-summary", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_token_without_the_dataset_scope_is_refused(release):
    researcher = make_research_client(modality="aggregate", scope="dataset:enforcement-summary")
    for path in (URL, ESTIMATE):
        refused = researcher.post(path, {"epsilon": 0.1})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "scope_missing"
        assert refused.json()["error"]["detail"] == {"required_scope": "dataset:moderation-decisions"}
    assert AggregateAnswer.objects.count() == 0


def test_without_a_token_the_answer_is_401(release):
    response = Client().post(URL, {"epsilon": 0.1}, content_type="application/json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_only_row_level_published_releases_can_be_aggregated(release):
    researcher = make_research_client(modality="aggregate")
    missing = researcher.post("/api/v1/datasets/moderation-decisions/releases/1999.01.01/aggregate", {"epsilon": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    summary = researcher.post("/api/v1/datasets/enforcement-summary/releases/latest/aggregate", {"epsilon": 1})
    assert summary.status_code == 404 and summary.json()["error"]["code"] == "not_found"


BAD = [
    ({"epsilon": 0.1, "group_by": ["nonsense"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1, "group_by": ["account_id"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1, "group_by": ["content_type"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1, "group_by": ["policy", "country", "appealed", "reinstated"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1, "group_by": ["policy", "policy"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1, "group_by": ["content_language", "country", "policy"]}, "invalid_request", "group_by"),
    ({"epsilon": 0.1234567}, "invalid_request", "epsilon"),
    ({"epsilon": 1.5}, "invalid_request", "epsilon"),
    ({"epsilon": 0}, "invalid_request", "epsilon"),
    ({"epsilon": "a lot"}, "invalid_request", "epsilon"),
    ({}, "invalid_request", "epsilon"),
    ({"epsilon": 0.1, "limit": 3}, "invalid_request", "limit"),
    ({"epsilon": 0.1, "measure": "median"}, "invalid_request", "measure"),
    ({"epsilon": 0.1, "measure": "sum"}, "invalid_request", "value"),
    ({"epsilon": 0.1, "value": "views_before_action"}, "invalid_request", "value"),
    ({"epsilon": 0.1, "contribution_bound": 0}, "invalid_request", "contribution_bound"),
    ({"epsilon": 0.1, "contribution_bound": 1001}, "invalid_request", "contribution_bound"),
    ({"epsilon": 0.1, "query": {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["x"]}]}},
     "invalid_query", "path"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "code", "key"), BAD)
def test_bad_input_answers_400_in_the_envelope_and_spends_nothing(release, body, code, key):
    researcher = make_research_client(modality="aggregate")
    response = researcher.post(URL, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and key in error["detail"] and error["message"] and error["request_id"]
    assert AggregateAnswer.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [{"group_by": ["policy"]}, {"epsilon": 0.1, "ci95_width": 50}, {"ci95_width": -1},
     {"measure": "mean", "value": "views_before_action", "ci95_width": 100}],
)  # fmt: skip
def test_an_estimate_needs_exactly_one_of_epsilon_and_a_target_width(release, body):
    response = make_research_client(modality="aggregate").post(ESTIMATE, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("path", [URL, ESTIMATE])
def test_both_endpoints_are_throttled_per_grant_with_truthful_headers(release, path):
    researcher = make_research_client(modality="aggregate", requests_per_minute=2)
    responses = [researcher.post(path, {"epsilon": 0.1, "group_by": ["policy"]}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["error"]["code"] == "rate_limited" and int(responses[2]["Retry-After"]) >= 1
    assert '"minute";q=2;w=60' in responses[0]["RateLimit-Policy"]
    assert responses[1]["RateLimit"].startswith('"minute";r=0;')


def test_every_call_is_audited_refused_ones_included(release):
    researcher = make_research_client(modality="aggregate")
    before = AccessEvent.objects.count()
    researcher.post(URL, {"group_by": ["policy"], "epsilon": 0.3})
    researcher.post(ESTIMATE, {"group_by": ["policy"], "epsilon": 0.3})
    researcher.post(URL, {"group_by": ["nonsense"], "epsilon": 0.3})
    events = list(AccessEvent.objects.order_by("id")[before:])
    assert [(e.endpoint.rsplit("/", 1)[1], e.status) for e in events] == [
        ("aggregate", 200), ("estimate", 200), ("aggregate", 400)
    ]  # fmt: skip
    answered = events[0]
    assert answered.grant_id == researcher.grant.pk and answered.release == release.version
    assert answered.query == {"group_by": ["policy"], "epsilon": 0.3} and answered.rows_returned == 13
    assert answered.dataset == "moderation-decisions"


def test_me_usage_and_the_portal_show_the_budget_left(release, client):
    researcher = make_research_client(modality="aggregate")
    researcher.post(URL, {"group_by": ["policy"], "epsilon": 0.75})
    expected = {"dataset": "moderation-decisions", "release": release.version, "epsilon_total": 5.0,
                "epsilon_spent": 0.75, "epsilon_remaining": 4.25}  # fmt: skip
    for path in ("/api/v1/me", "/api/v1/usage"):
        budgets = researcher.get(path).json()["privacy_budgets"]
        assert len(budgets) == 1 and expected.items() <= budgets[0].items()
        assert budgets[0]["release_cap_total"] == 20.0
    client.force_login(researcher.grant.application.principal_researcher.user)
    page = client.get("/portal/grants/").content.decode()
    assert f"release <code>{release.version}</code>: ε 4.25 of 5" in page


def test_me_shows_budgets_of_every_release_in_a_fixed_number_of_queries(release, django_assert_num_queries):
    researcher = make_research_client(modality="aggregate")
    researcher.get("/api/v1/me")  # the day's first request also reads the day's counts (docs/quotas.md)
    with CaptureQueriesContext(connection) as one_release:
        assert len(researcher.get("/api/v1/me").json()["privacy_budgets"]) == 1
    build_published_release(rows=600, seed=3, version="2.0", days=56)  # a later period: new data
    with django_assert_num_queries(len(one_release.captured_queries)):
        budgets = researcher.get("/api/v1/me").json()["privacy_budgets"]
    assert [b["release"] for b in budgets] == ["2.0", release.version]


def test_the_endpoints_are_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    aggregate = paths["/api/v1/datasets/{slug}/releases/{version}/aggregate"]["post"]
    estimate = paths["/api/v1/datasets/{slug}/releases/{version}/aggregate/estimate"]["post"]
    assert {"200", "400", "403", "429"} <= set(aggregate["responses"]) and "200" in estimate["responses"]
    body = schema["components"]["schemas"]["AggregateBodyRequest"]["properties"]
    assert {"group_by", "query", "measure", "value", "epsilon", "contribution_bound"} <= set(body)
    assert "privacy_budget_exhausted" in aggregate["responses"]["403"]["description"]
