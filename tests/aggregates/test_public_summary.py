"""GET /api/v1/public/enforcement-summary: differentially private, the same for every caller, honest about its
noise (docs/aggregates.md, "The public summary"); no token, filters, envelope, anonymous rate limit."""

from __future__ import annotations

import statistics
import uuid

import pytest
from django.conf import settings

from moderation_data.aggregates import dimensions as dims
from moderation_data.aggregates import mechanism
from moderation_data.aggregates.models import PublicSummary
from moderation_data.aggregates.selectors import budget_status, latest_public_summary
from moderation_data.aggregates.summary import build_public_summary, exact_tables

URL = "/api/v1/public/enforcement-summary"
pytestmark = pytest.mark.django_db


def _get(client, **params):
    # A fresh address per call: the anonymous limit is per client address.
    return client.get(URL, params, REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


def _all_cells(client) -> list[dict]:
    return _get(client, page_size=10000).json()["data"]


def test_anyone_reads_the_summary_without_a_token_with_its_public_epsilon_and_noise(client, release):
    response = _get(client)
    assert response.status_code == 200
    body = response.json()
    assert body["release"] == release.version and body["epsilon"] == float(settings.PUBLIC_SUMMARY_EPSILON)
    mechanism_ = body["mechanism"]
    assert mechanism_["privacy_unit"] == "account" and mechanism_["name"] == "discrete Laplace"
    assert mechanism_["dimensions"] == list(dims.SUMMARY_TABLES)
    # Five tables share ε, each account counting at most `bound` decisions: b = 5 · bound / ε.
    bound = settings.PUBLIC_SUMMARY_CONTRIBUTION_BOUND
    assert mechanism_["noise_scale"] == pytest.approx(5 * bound / float(settings.PUBLIC_SUMMARY_EPSILON))
    cell = body["data"][0]
    assert set(cell) == {"month", "dimension", "value", "decisions", "noise_scale", "ci95"}
    assert cell["noise_scale"] == mechanism_["noise_scale"]


def test_every_caller_gets_the_same_noisy_values(client, release):
    first, second = _all_cells(client), _all_cells(client)
    assert first == second
    summary = latest_public_summary()
    # Building it again changes nothing: it was computed once, with the release.
    assert build_public_summary(release=summary.release, source=release) == summary
    assert _all_cells(client) == first and PublicSummary.objects.filter(source=release).count() == 1


def test_every_cell_of_every_tables_domain_is_published(client, release):
    cells = _all_cells(client)
    domains = dims.summary_dimensions(release)
    months = domains["month"].keys
    expected = [(name, month, str(value)) for name in dims.SUMMARY_TABLES for month in months
                for value in domains[name].keys]  # fmt: skip
    assert [(c["dimension"], c["month"], c["value"]) for c in cells] == expected


def test_cells_differ_from_the_exact_counts_consistently_with_the_declared_scale(client, release):
    summary = latest_public_summary()
    exact = exact_tables(release, bound=summary.contribution_bound)
    errors, covered = [], 0
    for cell in _all_cells(client):
        true = exact[cell["dimension"]][(cell["month"], cell["value"])] / mechanism.RESOLUTION
        errors.append((cell["decisions"] - true) / summary.noise_scale)
        covered += cell["ci95"][0] <= true <= cell["ci95"][1]
    assert len(errors) > 150
    # Noise in units of b is Laplace(0, 1): E|z| = 1 (standard error 1/√n ≈ 0.08 here), 95% inside ci95
    # (standard error 1.7%); both bounds are more than 3.5 standard errors away.
    assert statistics.fmean(abs(z) for z in errors) == pytest.approx(1.0, abs=0.3)
    assert covered / len(errors) >= 0.88
    assert any(abs(z) > 0.5 for z in errors)  # noisy, not exact
    # The exact tables are the release's rows, capped: each table accounts for every row once.
    for name in dims.SUMMARY_TABLES:
        assert sum(exact[name].values()) == sum(exact["policy"].values())


def test_the_public_epsilon_is_counted_against_the_releases_global_cap(release):
    status = budget_status(release, project_id=0)
    assert status.public_epsilon == settings.PUBLIC_SUMMARY_EPSILON
    assert status.release_remaining == settings.AGGREGATE_RELEASE_EPSILON - settings.PUBLIC_SUMMARY_EPSILON


def test_filters_by_month_range_dimension_and_value_and_pages_cover_every_cell_once(client, release):
    everything = _all_cells(client)
    month = everything[0]["month"]
    body = _get(client, month_from=month, month_to=month, dimension="policy", value="spam_fake_engagement").json()
    assert body["data"] == [c for c in everything if (c["month"], c["dimension"], c["value"]) ==
                            (month, "policy", "spam_fake_engagement")]  # fmt: skip
    assert len(body["data"]) == 1
    pages, page = [], 1
    while True:
        body = _get(client, page=page, page_size=97).json()
        pages += body["data"]
        if not body["has_more"]:
            break
        page += 1
    assert pages == everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month_from": "2025-13"}, "month_from"),
        ({"month_to": "25-01"}, "month_to"),
        ({"month_from": "2025-05", "month_to": "2025-01"}, "month_to"),
        ({"dimension": "nonsense"}, "dimension"),
        ({"value": "DE"}, "value"),
        ({"page_size": "0"}, "page_size"),
        # Given but empty: refused, not read as absent (all rows instead of the requested ones).
        ({"dimension": "country", "value": ""}, "value"),
        ({"dimension": ""}, "dimension"),
        ({"month_from": ""}, "month_from"),
    ],
)
def test_bad_filters_answer_400_invalid_request_in_the_envelope(client, release, params, field):
    response = _get(client, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["detail"] and error["request_id"]


def test_the_anonymous_rate_limit_answers_429_with_retry_after(client, release, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 2
    address = f"10.99.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    codes = [client.get(URL, REMOTE_ADDR=address).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.get(URL, REMOTE_ADDR=address)
    assert response.json()["error"]["code"] == "rate_limited" and int(response["Retry-After"]) > 0


def test_the_endpoint_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/public/enforcement-summary"]["get"]
    assert {"month_from", "month_to", "dimension", "value", "page", "page_size"} <= {
        p["name"] for p in operation["parameters"]
    }
    assert {"200", "400", "429"} <= set(operation["responses"])
    assert "differentially private" in operation["summary"]
