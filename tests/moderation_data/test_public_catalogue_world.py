"""The public catalogue against a world of releases in every state: the shared published one, a newer
one withdrawn, one built but never published, and raw decisions in no release. Only the published
release is listed, in JSON, in DCAT-AP JSON-LD and on the portal page (tests/moderation_data/
test_public_catalogue.py has the rest of the catalogue's behaviour)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyld import jsonld
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF

from moderation_data.catalog.models import Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.ingest.models import Decision
from moderation_data.releases.models import Release
from moderation_data.releases.services import build_release, start_release, withdraw_release
from tests.api_fixtures import build_published_release
from tests.conftest import ACTIVE_MODULE_RELEASES, purge_releases_after, release_watermark
from tests.moderation_data.test_public_catalogue import ADMS, DCAT, SHAPES, SPDX, XSD, get, graph_of, jsonld_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(shared_release, django_db_blocker):
    """The shared published release (v1), a newer one withdrawn, one built but never published, and raw
    decisions that no release contains. Built once for the module (its tests only read it) and removed
    at its end.

    Releases cover disjoint periods (docs/privacy.md): the shared release holds the first four weeks of
    2025, the withdrawn one the next four, the unpublished one the four after."""
    with django_db_blocker.unblock():
        before = release_watermark()
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
    ACTIVE_MODULE_RELEASES.update({withdrawn.pk, unpublished.pk})
    yield {"published": shared_release, "withdrawn": withdrawn, "unpublished": unpublished}
    ACTIVE_MODULE_RELEASES.difference_update({withdrawn.pk, unpublished.pk})
    with django_db_blocker.unblock():
        Decision.objects.all().delete()
        purge_releases_after(before)


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


def test_the_portal_page_shows_the_catalogue_to_anyone(client, world):
    response = client.get("/portal/catalogue/")
    assert response.status_code == 200
    text = response.content.decode()
    decisions = text[text.index('id="dataset-moderation-decisions"') :]
    decisions = decisions[: decisions.index("</section>")]
    assert "Moderation decisions" in decisions and world["published"].version in decisions
    assert world["withdrawn"].version not in decisions and world["unpublished"].version not in text
    assert 'href="/api/v1/public/catalogue?format=jsonld"' in text
