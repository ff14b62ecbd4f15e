"""The privacy ledger (docs/aggregates.md, "Budgets"): charged before the answer leaves, never overspent,
under concurrency across processes too; repeats and estimates are free; the database guards the totals."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from django.db import DatabaseError, connection, transaction

from moderation_data.aggregates import services
from moderation_data.aggregates.models import AggregateAnswer, ProjectBudget, ReleaseBudget
from moderation_data.aggregates.selectors import budget_status
from tests.api_fixtures import http_client, make_research_client

URL = "/api/v1/datasets/moderation-decisions/releases/latest/aggregate"


def _policy(value: str) -> dict:
    return {"and": [{"operation": "EQ", "field_name": "policy", "field_values": [value]}]}


@pytest.mark.django_db
def test_an_answer_is_charged_once_and_its_repeat_in_any_spelling_is_the_same_answer_at_no_cost(release):
    researcher = make_research_client(modality="aggregate")
    first = researcher.post(URL, {"group_by": ["policy", "country"], "epsilon": 0.25,
                                  "query": {"and": [{"operation": "IN", "field_name": "appealed",
                                                     "field_values": [True]}]}})  # fmt: skip
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["epsilon_spent"], body["cached"], body["budget_remaining"]) == (0.25, False, 4.75)
    # The same query: group_by in another order, IN of one value as EQ, ε written differently, another client
    # of the same project (a rotated secret and a fresh token).
    again = researcher.post(URL, {"group_by": ["country", "policy"], "epsilon": "0.250000",
                                  "query": {"and": [{"operation": "EQ", "field_name": "appealed",
                                                     "field_values": ["true"]}]}})  # fmt: skip
    repeat = again.json()
    assert again.status_code == 200 and repeat["cached"] is True and repeat["epsilon_spent"] == 0
    assert repeat["budget_remaining"] == 4.75 and repeat["answered_at"] == body["answered_at"]
    by_key = {(r["policy"], r["country"]): (r["count"], r["ci95"]) for r in body["data"]}
    assert {(r["policy"], r["country"]): (r["count"], r["ci95"]) for r in repeat["data"]} == by_key
    assert list(repeat["data"][0])[:2] == ["country", "policy"]  # the repeat's own column order
    assert AggregateAnswer.objects.count() == 1
    assert budget_status(release, researcher.grant.application_id).project_spent == Decimal("0.25")


@pytest.mark.django_db
def test_a_different_epsilon_or_bound_is_a_new_query_and_is_charged(release):
    researcher = make_research_client(modality="aggregate")
    for body in ({"group_by": ["policy"], "epsilon": 0.1}, {"group_by": ["policy"], "epsilon": 0.2},
                 {"group_by": ["policy"], "epsilon": 0.1, "contribution_bound": 5}):  # fmt: skip
        assert researcher.post(URL, body).json()["cached"] is False
    assert budget_status(release, researcher.grant.application_id).project_spent == Decimal("0.4")


@pytest.mark.django_db
def test_estimates_spend_nothing_and_say_when_a_query_would_be_free(release):
    researcher = make_research_client(modality="aggregate")
    body = {"group_by": ["detection_source"], "epsilon": 0.5}
    estimate = researcher.post(f"{URL}/estimate", body).json()
    assert (estimate["epsilon_cost"], estimate["repeat"], estimate["budget_remaining"]) == (0.5, False, 5.0)
    assert estimate["noise_scale"] == pytest.approx(40.0) and estimate["affordable"] is True
    by_width = researcher.post(f"{URL}/estimate", {"group_by": ["detection_source"], "ci95_width": 240}).json()
    assert by_width["ci95_width"] <= 240 and by_width["epsilon"] == pytest.approx(0.5, abs=0.001)
    assert AggregateAnswer.objects.count() == 0
    assert budget_status(release, researcher.grant.application_id).project_spent == 0
    researcher.post(URL, body)
    assert researcher.post(f"{URL}/estimate", body).json()["epsilon_cost"] == 0


@pytest.mark.django_db
def test_an_exhausted_budget_answers_403_with_spent_and_total_in_detail(release):
    researcher = make_research_client(modality="aggregate")
    services.create_project_budget(release=release, project_id=researcher.grant.application_id,
                                   total_epsilon=Decimal("0.6"))  # fmt: skip
    assert researcher.post(URL, {"group_by": ["policy"], "epsilon": 0.5}).status_code == 200
    refused = researcher.post(URL, {"group_by": ["country"], "epsilon": 0.2})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "privacy_budget_exhausted" and error["request_id"]
    assert (error["detail"]["spent"], error["detail"]["total"], error["detail"]["remaining"]) == (0.5, 0.6, 0.1)
    assert error["detail"]["epsilon_requested"] == 0.2
    # Nothing was charged for the refusal, and what is left can still be spent.
    assert researcher.post(URL, {"group_by": ["country"], "epsilon": 0.1}).status_code == 200
    assert budget_status(release, researcher.grant.application_id).remaining == 0


@pytest.mark.django_db
def test_the_global_cap_holds_across_two_projects(release):
    first, second = make_research_client(modality="aggregate"), make_research_client(modality="records")
    cap = services.ensure_release_cap(release=release)
    public = budget_status(release, first.grant.application_id).public_epsilon
    assert public > 0  # the public summary's ε is counted against the cap too
    services.set_release_cap(cap, total_epsilon=public + Decimal("1"))
    assert first.post(URL, {"group_by": ["policy"], "epsilon": 0.5}).status_code == 200
    assert second.post(URL, {"group_by": ["policy"], "epsilon": 0.4}).status_code == 200
    refused = second.post(URL, {"group_by": ["country"], "epsilon": 0.2})
    assert refused.status_code == 403
    detail = refused.json()["error"]["detail"]
    assert detail["release_cap"] == {"spent": float(public + Decimal("0.9")), "total": float(public + 1)}
    assert detail["project"] == {"spent": 0.4, "total": 5.0}
    assert first.post(URL, {"group_by": ["country"], "epsilon": 0.2}).status_code == 403
    assert first.post(URL, {"group_by": ["country"], "epsilon": 0.1}).status_code == 200
    assert ReleaseBudget.objects.get(release=release).spent_epsilon == Decimal("1.0")


@pytest.mark.django_db
def test_the_database_refuses_overspending_and_changing_answers_even_around_the_service(release):
    researcher = make_research_client(modality="aggregate")
    researcher.post(URL, {"group_by": ["policy"], "epsilon": 0.5})
    budget = ProjectBudget.objects.get(release=release)
    answer = AggregateAnswer.objects.get()

    def fails(sql: str, params: list) -> str:
        with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
        return str(caught.value)

    assert "exceed" in fails("UPDATE moderation_data_projectbudget SET spent_epsilon = 5.5 WHERE id = %s", [budget.pk])
    assert "cannot decrease" in fails(
        "UPDATE moderation_data_projectbudget SET spent_epsilon = 0 WHERE id = %s", [budget.pk]
    )
    assert "immutable" in fails("UPDATE moderation_data_aggregateanswer SET epsilon = 0 WHERE id = %s", [answer.pk])
    assert "immutable" in fails("DELETE FROM moderation_data_aggregateanswer WHERE id = %s", [answer.pk])
    # Lowering a total below what was spent is allowed: it only stops further spending.
    services.set_project_budget(budget, total_epsilon=Decimal("0.1"))
    assert researcher.post(URL, {"group_by": ["country"], "epsilon": 0.01}).status_code == 403


def _concurrently(server_urls, requests) -> list[httpx.Response]:
    def one(i_request):
        i, (token, body) = i_request
        return http.post(f"{server_urls[i % len(server_urls)]}{URL}", json=body,
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    with http_client(len(requests)) as http, ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(one, enumerate(requests)))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_aggregate_requests_through_two_gunicorns_never_overspend(two_gunicorns, release):
    researcher = make_research_client(modality="aggregate", requests_per_minute=1000)
    services.create_project_budget(release=release, project_id=researcher.grant.application_id,
                                   total_epsilon=Decimal("1.75"))  # fmt: skip
    # 20 different queries of ε = 0.25 against ε = 1.75: exactly 7 can be paid for.
    bodies = [{"group_by": ["policy"], "epsilon": 0.25, "contribution_bound": n} for n in range(1, 21)]
    responses = _concurrently([s.url for s in two_gunicorns], [(researcher.token, b) for b in bodies])
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 7 and statuses.count(403) == 13, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 403} == {"privacy_budget_exhausted"}
    budget = ProjectBudget.objects.get(release=release, project_id=researcher.grant.application_id)
    assert budget.spent_epsilon == Decimal("1.75")
    assert sum(a.epsilon for a in AggregateAnswer.objects.filter(release=release)) == budget.spent_epsilon
    assert ReleaseBudget.objects.get(release=release).spent_epsilon == Decimal("1.75")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_get_one_answer_and_one_charge_and_two_projects_never_pass_the_cap(two_gunicorns, release):
    first = make_research_client(modality="aggregate", requests_per_minute=1000)
    second = make_research_client(modality="records", requests_per_minute=1000)
    cap = services.ensure_release_cap(release=release)
    public = budget_status(release, first.grant.application_id).public_epsilon
    services.set_release_cap(cap, total_epsilon=public + Decimal("1"))
    same = {"group_by": ["detection_source"], "epsilon": 0.1}
    requests = [(first.token, same)] * 6
    requests += [(token, {"group_by": ["policy"], "epsilon": 0.2, "contribution_bound": n})
                 for n in range(1, 8) for token in (first.token, second.token)]  # fmt: skip
    responses = _concurrently([s.url for s in two_gunicorns], requests)
    repeats, others = responses[:6], responses[6:]
    assert all(r.status_code == 200 for r in repeats)
    # One noisy answer, whoever computed it first.
    assert len({json.dumps([r.json()["data"], r.json()["answered_at"]], sort_keys=True) for r in repeats}) == 1
    assert sum(r.json()["epsilon_spent"] for r in repeats) == pytest.approx(0.1)
    # 0.9 of the cap left for 14 queries of 0.2: exactly 4 pass, whichever project asks.
    assert [r.status_code for r in others].count(200) == 4
    assert ReleaseBudget.objects.get(release=release).spent_epsilon == Decimal("0.9")
    assert sum(p.spent_epsilon for p in ProjectBudget.objects.filter(release=release)) == Decimal("0.9")
