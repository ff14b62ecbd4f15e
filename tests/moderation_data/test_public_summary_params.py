"""The public summary never answers a mistaken request as if it were unfiltered or empty (docs/aggregates.md,
"The public summary"): an unknown parameter, or a value outside its dimension's values, is a 400
``invalid_request`` naming it, worded like the query language's refusals (docs/query.md)."""

from __future__ import annotations

import uuid

import pytest

URL = "/api/v1/public/enforcement-summary"
pytestmark = pytest.mark.django_db


def _get(client, **params):
    # A fresh address per call: the anonymous limit is per client address.
    return client.get(URL, params, REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9")


def _refused(response) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["request_id"]
    return error


@pytest.mark.parametrize(
    ("params", "unknown", "hint"),
    [
        ({"dimensions": "policy"}, "dimensions", "did you mean 'dimension'?"),
        ({"month": "2025-03"}, "month", "month_from and month_to"),
        ({"dimension": "policy", "valeu": "spam_fake_engagement"}, "valeu", "did you mean 'value'?"),
        ({"xyzzy": "1"}, "xyzzy", "Parameters of this endpoint: month_from, month_to, dimension, value"),
    ],
)
def test_an_unknown_parameter_is_refused_naming_it_instead_of_being_ignored(client, release, params, unknown, hint):
    error = _refused(_get(client, **params))
    assert error["message"].startswith(f"Unknown query parameter: {unknown}.")
    assert hint in error["message"]
    assert set(error["detail"]) == {unknown}


def test_every_unknown_parameter_is_named_at_once(client, release):
    error = _refused(_get(client, dimensions="policy", month="2025-03"))
    assert error["message"].startswith("Unknown query parameters: dimensions, month.")
    assert set(error["detail"]) == {"dimensions", "month"}


def test_a_wrong_case_value_is_refused_with_the_suggestion(client, release):
    error = _refused(_get(client, dimension="country", value="de"))
    assert "\"de\" is not a value of 'country'" in error["message"]
    assert 'did you mean "DE"? Values are case-sensitive' in error["message"]
    assert 'did you mean "DE"?' in error["detail"]["value"][0]
    # A near spelling in another dimension is suggested too.
    error = _refused(_get(client, dimension="policy", value="spam_fake_engagment"))
    assert 'did you mean "spam_fake_engagement"?' in error["message"]


def test_a_value_of_no_cell_is_refused_and_the_allowed_values_are_listed(client, release):
    error = _refused(_get(client, dimension="country", value="US"))
    assert "\"US\" is not a value of 'country'" in error["message"]
    assert "'NON_EEA'" in error["message"] and "Values of 'country': " in error["message"]
    assert "DE" in error["message"].split("Values of 'country': ", 1)[1].split(", ")
    # A value of another dimension is not a value of this one.
    _refused(_get(client, dimension="appeal_outcome", value="DE"))


def test_valid_filters_still_answer_as_before(client, release):
    everything = _get(client, page_size=10000).json()["data"]
    for dimension, value in (("country", "DE"), ("policy", "spam_fake_engagement"), ("country", "unknown")):
        response = _get(client, dimension=dimension, value=value, page_size=10000)
        assert response.status_code == 200, response.content
        expected = [c for c in everything if (c["dimension"], c["value"]) == (dimension, value)]
        assert expected and response.json()["data"] == expected
    # Every published value of every dimension is accepted.
    for cell in everything[:: max(1, len(everything) // 50)]:
        response = _get(client, dimension=cell["dimension"], value=cell["value"], month_from=cell["month"],
                        month_to=cell["month"])  # fmt: skip
        assert response.status_code == 200 and response.json()["data"] == [cell]
    # No parameter, paging, and DRF's renderer override stay as they were.
    assert _get(client).status_code == 200
    assert _get(client, page=2, page_size=10, format="json").status_code == 200
