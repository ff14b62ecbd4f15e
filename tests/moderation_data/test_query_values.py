"""Values are validated (docs/query.md): no query silently answers 200 with no rows because a value
or a field name was mistaken. Every filterable field has a domain in the codebook; values outside it,
unknown field names, and names from the DSA Transparency Database or the TikTok Research API are
refused with 400 ``invalid_query`` saying what this API expects.
"""

from __future__ import annotations

import pytest

from moderation_data.catalog.codebook import codebook_for, query_values
from moderation_data.query import crosswalk

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"


def condition(operation: str, field: str, *values) -> dict:
    return {"operation": operation, "field_name": field, "field_values": list(values)}


def refused(response, code: str = "invalid_query") -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


@pytest.mark.django_db
def test_a_lower_case_country_is_refused_with_did_you_mean(release, researcher):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("EQ", "country", "de")]}}))
    assert "\"de\" is not a value of 'country'" in error["message"]
    assert 'did you mean "DE"?' in error["message"]
    assert "/api/v1/datasets/moderation-decisions" in error["message"]
    assert "/portal/docs/codebook/moderation-decisions" in error["message"]
    detail = error["detail"]
    assert detail["path"] == "query.and[0].field_values[0]"
    assert (detail["field_name"], detail["value"], detail["suggestion"]) == ("country", "de", "DE")
    assert detail["codebook"].startswith("the codebook")


@pytest.mark.django_db
def test_the_get_form_refuses_a_lower_case_country_too(release, researcher):
    error = refused(researcher.get(RECORDS, {"country__in": "DE,fr"}))
    assert error["detail"]["path"] == "country__in"
    assert error["detail"]["suggestion"] == "FR"


@pytest.mark.django_db
def test_an_unknown_country_code_is_refused_instead_of_matching_nothing(release, researcher):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("IN", "country", "DE", "XX")]}}))
    assert error["detail"]["value"] == "XX"
    assert error["detail"]["path"] == "query.and[0].field_values[1]"


@pytest.mark.django_db
def test_countries_outside_the_eea_and_region_codes_are_values_of_country(release, researcher):
    for value in ("US", "EU_WEST", "NON_EEA", "OTHER"):
        response = researcher.post(COUNT, {"query": {"and": [condition("EQ", "country", value)]}})
        assert response.status_code == 200, (value, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "suggestion"),
    [
        ("content_language", "de", "DE"),
        ("policy", "Violent_Extremism", "violent_extremism"),
        ("territorial_scope", "nl", "NL"),
        ("views_before_action", "lots", None),
        ("time_to_action", "<1H", "<1h"),
    ],
)
def test_every_domain_refuses_a_value_outside_it_naming_value_and_field(release, researcher, field, value, suggestion):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("EQ", field, value)]}}))
    assert error["detail"]["field_name"] == field and error["detail"]["value"] == value
    assert error["detail"].get("suggestion") == suggestion
    assert f"'{field}'" in error["message"] and "codebook" in error["message"]


@pytest.mark.django_db
def test_an_unknown_field_suggests_the_closest_and_lists_the_fields(release, researcher):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("GTE", "decision_date", "2025-01-01")]}}))
    assert "Did you mean 'decided_on'?" in error["message"]
    assert error["detail"]["suggestion"] == "decided_on"
    assert "policy" in error["detail"]["fields"] and "decision_id" not in error["detail"]["fields"]
    assert "policy" in error["message"]
    typo = refused(researcher.get(RECORDS, {"polcy": "violent_extremism"}))
    assert typo["detail"]["suggestions"] == {"polcy": "policy"}
    selected = refused(researcher.get(RECORDS, {"fields": "decision_id,countyr"}))
    assert selected["detail"]["suggestion"] == "country" and selected["detail"]["path"] == "fields[1]"


@pytest.mark.django_db
def test_dsa_transparency_database_names_are_answered_with_this_apis_equivalent(release, researcher):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("GTE", "application_date", "2025-01-01")]}}))
    assert "DSA Transparency Database column" in error["message"]
    assert "'decided_on'" in error["message"] and error["detail"]["suggestion"] == "decided_on"
    free_text = refused(researcher.get(RECORDS, {"decision_facts": "spam"}))
    assert "no equivalent" in free_text["message"] and "never released" in free_text["message"]


@pytest.mark.django_db
def test_the_dsas_yes_and_no_are_answered_with_true_and_false(release, researcher):
    error = refused(researcher.post(COUNT, {"query": {"and": [condition("EQ", "automated_detection", "Yes")]}}))
    assert "true or false" in error["message"] and "DSA" in error["message"]
    assert error["detail"]["suggestion"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "equivalent"),
    [("start_date", "decided_on"), ("end_date", "decided_on"), ("max_count", "page_size"), ("search_id", "cursor")],
)
def test_tiktok_research_api_envelope_names_are_answered_with_this_apis_equivalent(
    release, researcher, key, equivalent
):
    response = researcher.post(RECORDS, {"query": {"and": [condition("EQ", "policy", "other")]}, key: "20250101"})
    error = refused(response, "invalid_request")
    assert "TikTok Research API" in error["message"] and f"'{equivalent}'" in error["message"]
    assert key in error["detail"]
    by_get = refused(researcher.get(RECORDS, {key: "20250101"}))
    assert f"'{equivalent}'" in by_get["message"]


@pytest.mark.django_db
def test_tiktok_region_code_and_compact_dates_get_a_hint(release, researcher):
    region = refused(researcher.post(COUNT, {"query": {"and": [condition("EQ", "region_code", "DE")]}}))
    assert region["detail"]["suggestion"] == "country"
    compact = refused(researcher.post(COUNT, {"query": {"and": [condition("GTE", "decided_on", "20250101")]}}))
    assert compact["detail"]["suggestion"] == "2025-01-01"


def test_every_filterable_field_of_every_codebook_has_a_closed_domain_or_a_typed_one():
    typed = {"date", "month", "boolean", "integer"}
    for slug in ("moderation-decisions", "enforcement-summary"):
        for entry in codebook_for(slug):
            if not entry["filterable"] or entry["type"] in typed:
                continue
            assert entry.get("closed") is True and query_values(entry), (slug, entry["name"])


def test_a_release_whose_codebook_left_country_open_is_checked_against_todays_domain():
    legacy = {"name": "country", "type": "string", "values": [{"value": "DE", "label": "DE"}], "closed": False}
    domain = query_values(legacy)
    assert "US" in domain and "EU_WEST" in domain and "de" not in domain


def test_the_crosswalk_covers_every_column_of_the_dsa_transparency_database():
    header = (
        "uuid,decision_visibility,decision_visibility_other,end_date_visibility_restriction,decision_monetary,"
        "decision_monetary_other,end_date_monetary_restriction,decision_provision,end_date_service_restriction,"
        "decision_account,end_date_account_restriction,account_type,decision_ground,decision_ground_reference_url,"
        "illegal_content_legal_ground,illegal_content_explanation,incompatible_content_ground,"
        "incompatible_content_explanation,incompatible_content_illegal,category,category_addition,"
        "category_specification,category_specification_other,content_type,content_type_other,content_language,"
        "content_date,content_id_ean,territorial_scope,application_date,decision_facts,source_type,source_identity,"
        "automated_detection,automated_decision,platform_name,platform_uid,created_at"
    )
    names = {entry.name for entry in crosswalk.DSA_COLUMNS}
    assert set(header.split(",")) <= names
    fields = {entry["name"] for entry in codebook_for("moderation-decisions")}
    assert {entry.field for entry in crosswalk.DSA_COLUMNS if entry.field} <= fields
