"""GET /api/v1/public/catalogue: exactly the published datasets and releases, as JSON and as DCAT-AP
JSON-LD that expands offline and passes the DCAT-AP shapes we can check without the network."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from pyld import jsonld
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF

from moderation_data.catalog.models import Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.ingest.models import Decision
from moderation_data.releases.models import Release
from moderation_data.releases.services import build_release, start_release, withdraw_release
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


@pytest.fixture
def world(shared_release):
    """The shared published release (v1), a newer one withdrawn, one built but never published, and raw
    decisions that no release contains.

    Releases cover disjoint periods (docs/privacy.md): the shared release holds the first four weeks of
    2025, the withdrawn one the next four, the unpublished one the four after."""
    dataset = Dataset.objects.get(slug="moderation-decisions")
    generate_demo_data(rows=1800, seed=5, days=84)
    after_shared = shared_release.period_end + dt.timedelta(days=1)
    withdrawn = build_published_release(  # the raw tier made above
        rows=0, version="2099.01.01", period_end=after_shared + dt.timedelta(days=27)
    )
    withdraw_release(withdrawn, reason="test")
    unpublished = build_release(start_release(dataset, version="2099.02.01").pk, publish=False)
    assert unpublished.period_start == withdrawn.period_end + dt.timedelta(days=1)
    generate_demo_data(rows=300, seed=6)  # raw only, in no release
    return {"published": shared_release, "withdrawn": withdrawn, "unpublished": unpublished}


def published_versions() -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for slug, version in (
        Release.objects.published().filter(dataset__is_active=True).values_list("dataset__slug", "version")
    ):
        versions.setdefault(slug, set()).add(version)
    return versions


def test_the_json_lists_exactly_the_published_datasets_and_releases(client, world, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = get(client)
    assert response.status_code == 200
    # Accept-Encoding too: the body is compressed when the client offers it (platform_api.compression).
    assert [v.strip() for v in response["Vary"].split(",")] == ["Accept", "Accept-Encoding"]
    body = response.json()
    listed = {d["slug"]: {r["version"] for r in d["releases"]} for d in body["datasets"]}
    assert listed == published_versions()
    # The withdrawn release's companion summary stays published; the withdrawn and unpublished releases do not appear.
    assert world["withdrawn"].version not in listed["moderation-decisions"]
    text = response.content.decode()
    assert world["withdrawn"].sha256 not in text and world["unpublished"].sha256 not in text
    assert "2099.02.01" not in text


def test_the_catalogue_never_reads_the_raw_tier(client, world):
    text = get(client).content.decode()
    for decision in Decision.objects.all()[:200]:
        assert decision.platform_decision_id not in text
        if decision.account_id:
            assert decision.account_id not in text
    decisions = next(d for d in json.loads(text)["datasets"] if d["slug"] == "moderation-decisions")
    published = world["published"]
    assert (decisions["period_start"], decisions["period_end"]) == (
        str(published.period_start),
        str(published.period_end),
    )


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


def test_the_json_ld_expands_offline_and_names_exactly_the_published_releases(client, world):
    document = jsonld_of(client)

    def no_network(url, options=None):
        raise AssertionError(f"the JSON-LD tried to load {url}")

    expanded = jsonld.expand(document, {"documentLoader": no_network})
    types = {t for node in expanded for t in node.get("@type", [])}
    assert {str(DCAT.Catalog), str(DCAT.Dataset), str(DCAT.DataService), str(FOAF.Agent)} <= types

    graph = graph_of(document)
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    assert len(catalogs) == 1
    catalog = catalogs[0]
    for prop in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher):
        assert graph.value(catalog, prop) is not None
    parents = set(graph.objects(catalog, DCAT.dataset))
    assert {str(graph.value(p, DCTERMS.identifier)) for p in parents} == set(published_versions())
    for parent in parents:
        slug = str(graph.value(parent, DCTERMS.identifier))
        versions = {str(graph.value(v, DCAT.version)) for v in graph.objects(parent, DCAT.hasVersion)}
        assert versions == published_versions()[slug]
        current = graph.value(parent, DCAT.hasCurrentVersion)
        assert current in set(graph.objects(parent, DCAT.hasVersion))
    # Every release is reachable through the API with its checksum, and dates are typed.
    sums = {str(v) for v in graph.objects(None, SPDX.checksumValue)}
    assert sums == set(Release.objects.published().values_list("sha256", flat=True))
    assert world["withdrawn"].sha256 not in sums and world["unpublished"].sha256 not in sums
    for distribution in graph.subjects(RDF.type, DCAT.Distribution):
        assert isinstance(graph.value(distribution, DCAT.accessURL), URIRef)
    for period in graph.subjects(RDF.type, DCTERMS.PeriodOfTime):
        assert graph.value(period, DCAT.startDate).datatype == XSD.date
    for service in graph.subjects(RDF.type, DCAT.DataService):
        assert isinstance(graph.value(service, DCAT.endpointURL), URIRef)
    assert any(isinstance(n, Literal) and n.language == "en" for n in graph.objects(None, ADMS.versionNotes))


def test_the_json_ld_conforms_to_the_dcat_ap_shapes(client, world):
    from pyshacl import validate

    conforms, _, report = validate(
        graph_of(jsonld_of(client)), shacl_graph=Graph().parse(SHAPES, format="turtle"), inference="none"
    )
    assert conforms, report


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


def test_the_portal_page_shows_the_catalogue_to_anyone(client, world):
    response = client.get("/portal/catalogue/")
    assert response.status_code == 200
    text = response.content.decode()
    decisions = text[text.index('id="dataset-moderation-decisions"') :]
    decisions = decisions[: decisions.index("</section>")]
    assert "Moderation decisions" in decisions and world["published"].version in decisions
    assert world["withdrawn"].version not in decisions and world["unpublished"].version not in text
    assert 'href="/api/v1/public/catalogue?format=jsonld"' in text


def test_the_openapi_schema_documents_both_representations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    content = schema["paths"]["/api/v1/public/catalogue"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/ld+json"} <= set(content)
