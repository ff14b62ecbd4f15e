"""GET /api/v1/public/catalogue: exactly the published datasets and releases, as JSON and as DCAT-AP
JSON-LD that expands offline and passes the DCAT-AP shapes we can check without the network."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from rdflib import RDF, Graph, Namespace

from moderation_data.catalog.models import Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.releases.models import Release
from moderation_data.releases.services import withdraw_release
from tests.api_fixtures import build_published_release

URL = "/api/v1/public/catalogue"
DCAT = Namespace("http://www.w3.org/ns/dcat#")  # DCAT 3 (rdflib's closed namespace is DCAT 2)
SPDX = Namespace("http://spdx.org/rdf/terms#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SHAPES = Path(__file__).resolve().parent / "data" / "dcat_ap_shapes.ttl"
pytestmark = pytest.mark.django_db


def _address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"


def get(client, **headers):
    return client.get(URL, REMOTE_ADDR=_address(), **headers)


def jsonld_of(client) -> dict:
    response = get(client, HTTP_ACCEPT="application/ld+json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    return json.loads(response.content)


def graph_of(document: dict) -> Graph:
    return Graph().parse(data=json.dumps(document), format="json-ld")


def test_a_dataset_is_described_with_its_codebook_periods_modalities_and_privacy(client, shared_release):
    body = get(client).json()
    decisions = next(d for d in body["datasets"] if d["slug"] == "moderation-decisions")
    assert [f["name"] for f in decisions["fields"]] == [f["name"] for f in shared_release.codebook]
    policy = next(f for f in decisions["fields"] if f["name"] == "policy")
    assert policy["type"] == "enum" and {"value": "violent_extremism", "label": "Violent extremism"} in policy["values"]
    assert "column" not in policy and "operations" not in policy
    assert decisions["access_modalities"] == ["aggregate", "records", "records_and_exports"]
    assert decisions["privacy"]["k_anonymity"] == shared_release.k_anonymity
    assert "k-anonymity" in decisions["privacy"]["summary"]
    assert "account_id" not in decisions["privacy"]["quasi_identifiers"]
    release = decisions["releases"][0]
    assert release["sha256"] == shared_release.sha256 and release["change_log"] == ["First published release."]
    summary = next(d for d in body["datasets"] if d["slug"] == "enforcement-summary")
    assert summary["access_modalities"] == ["public"]
    companion = Release.objects.get(dataset__slug="enforcement-summary", version=shared_release.version)
    # The public summary is differentially private: its ε and privacy unit are stated.
    assert summary["privacy"]["epsilon"] == companion.anonymization["epsilon"]
    assert summary["privacy"]["privacy_unit"] == "account"
    assert "differential privacy" in summary["privacy"]["measures"]
    assert {m["name"] for m in body["access_modalities"]} == {"public", "aggregate", "records", "records_and_exports"}
    assert any("40(4)" in route for route in body["vetting_routes"])


def test_a_later_release_carries_a_change_log_against_the_previous_published_one(client, shared_release):
    generate_demo_data(rows=2000, seed=21, days=56)  # four weeks after the shared release's
    newer = build_published_release(rows=0, version="2099.03.01")
    assert newer.period_start == shared_release.period_end + dt.timedelta(days=1)
    decisions = next(d for d in get(client).json()["datasets"] if d["slug"] == "moderation-decisions")
    assert [r["version"] for r in decisions["releases"]] == [newer.version, shared_release.version]
    log = decisions["releases"][0]["change_log"]
    delta = newer.row_count - shared_release.row_count
    assert any(f"{delta:+,} records since {shared_release.version}" in entry for entry in log)


def test_an_inactive_dataset_is_not_listed(client, shared_release):
    Dataset.objects.filter(slug="enforcement-summary").update(is_active=False)
    assert [d["slug"] for d in get(client).json()["datasets"]] == ["moderation-decisions"]


def test_the_dcat_ap_shapes_catch_a_broken_catalogue(client, shared_release):
    from pyshacl import validate

    document = jsonld_of(client)
    for node in document["@graph"]:
        node.pop("dct:title", None)  # mandatory on catalogues, datasets and data services
        if node.get("@type") == "dcat:Distribution":
            node.pop("dcat:accessURL", None)
        for distribution in node.get("dcat:distribution", []):
            distribution.pop("dcat:accessURL", None)
    conforms, _, report = validate(graph_of(document), shacl_graph=Graph().parse(SHAPES, format="turtle"))
    assert not conforms
    assert "title" in report and "accessURL" in report


def test_format_jsonld_in_the_query_string_also_selects_json_ld(client, shared_release):
    response = client.get(URL, {"format": "jsonld"}, REMOTE_ADDR=_address())
    assert response.status_code == 200 and response["Content-Type"].startswith("application/ld+json")
    assert "@context" in response.json()


def test_the_catalogue_needs_no_token_ignores_a_bad_one_and_tells_its_rate_limit(client, shared_release):
    response = get(client, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
    assert "RateLimit" in response and "RateLimit-Policy" in response


def test_the_anonymous_rate_limit_answers_429_in_the_envelope(client, shared_release, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 2
    address = _address()
    codes = [client.get(URL, REMOTE_ADDR=address).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.get(URL, REMOTE_ADDR=address, HTTP_ACCEPT="application/ld+json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "rate_limited"


def test_with_every_release_withdrawn_the_catalogue_is_empty_but_valid(client, shared_release):
    for release in Release.objects.published():
        withdraw_release(release, reason="test")  # rolled back with the test
    body = get(client).json()
    assert body["datasets"] == [] and body["modified"] is None
    graph = graph_of(jsonld_of(client))
    catalog = graph.value(None, RDF.type, DCAT.Catalog, any=False)
    assert catalog is not None and not list(graph.objects(catalog, DCAT.dataset))


def test_the_openapi_schema_documents_both_representations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    content = schema["paths"]["/api/v1/public/catalogue"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/ld+json"} <= set(content)
