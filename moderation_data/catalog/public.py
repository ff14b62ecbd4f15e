"""The public data catalogue (docs/catalogue.md): what data the platform can make available.

The DSA delegated act on data access asks providers to document the data they can make
available (metadata, structure, change logs) and the interfaces they offer. This is that
document, served without authentication as JSON (``GET /api/v1/public/catalogue``), as DCAT-AP
JSON-LD (``Accept: application/ld+json``) for the DSA data access portal or any EU data
catalogue, and as a portal page (``/portal/catalogue/``).

It is built from published releases only: a dataset appears once it has one, withdrawn
releases never appear, and nothing is read from the raw tier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation_data.catalog.models import Dataset
from moderation_data.catalog.serializers import CodebookFieldSerializer
from moderation_data.releases import citation as cite
from moderation_data.releases.models import Release
from platform_api.openapi import error_responses
from platform_api.renderers import FastJSONRenderer
from platform_api.throttling import PublicAnonThrottle

JSONLD_MEDIA_TYPE = "application/ld+json"

# The access modalities a grant can have (docs/vetting.md), and the public one.
MODALITIES: dict[str, dict[str, str]] = {
    "public": {
        "title": "Public, no vetting",
        "description": "Served to anyone without authentication, rate limited per client address.",
    },
    "aggregate": {
        "title": "Aggregate statistics",
        "description": (
            "Differentially private counts, sums and means per group, within a privacy budget per project and "
            "release, for vetted researchers (DSA Art. 40(4) or 40(12))."
        ),
    },
    "records": {
        "title": "Row-level records",
        "description": "Anonymized rows through the query API (filters, cursor pages), for vetted researchers.",
    },
    "records_and_exports": {
        "title": "Row-level records and bulk exports",
        "description": "As records, plus asynchronous bulk files (CSV, JSON Lines, Parquet) with a manifest.",
    },
}
VETTING_ROUTES = [
    "A reasoned request of the Digital Services Coordinator of establishment (DSA Art. 40(4))",
    "Vetting by the platform through the researcher portal (DSA Art. 40(12), voluntary programme)",
]
# EU Publications Office vocabularies (DCAT-AP recommends them).
ACCESS_RIGHTS = {
    Dataset.Sensitivity.PUBLIC: "http://publications.europa.eu/resource/authority/access-right/PUBLIC",
    Dataset.Sensitivity.RESTRICTED: "http://publications.europa.eu/resource/authority/access-right/RESTRICTED",
}
EUROPE = "http://publications.europa.eu/resource/authority/continent/EUROPE"
JSON_FORMAT = "http://publications.europa.eu/resource/authority/file-type/JSON"
# The codebook's field types as CSVW datatypes.
CSVW_DATATYPES = {
    "pseudonym": "string",
    "date": "date",
    "month": "gYearMonth",
    "enum": "string",
    "list": "string",
    "boolean": "boolean",
    "bucket": "string",
    "string": "string",
    "integer": "integer",
}
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "adms": "http://www.w3.org/ns/adms#",
    "spdx": "http://spdx.org/rdf/terms#",
    "csvw": "http://www.w3.org/ns/csvw#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


# --------------------------------------------------------------------------- reads
def published_datasets() -> list[tuple[Dataset, list[Release]]]:
    """Active datasets with their published releases, oldest first; datasets without one are left out.

    One query. Withdrawn, failed and unpublished releases are never read.
    """
    releases = (
        Release.objects.published()
        .filter(dataset__is_active=True)
        .select_related("dataset")
        .order_by("dataset__slug", "published_at", "id")
    )
    grouped: dict[int, tuple[Dataset, list[Release]]] = {}
    for release in releases:
        grouped.setdefault(release.dataset_id, (release.dataset, []))[1].append(release)
    return list(grouped.values())


def change_log(previous: Release | None, release: Release) -> list[str]:
    """What changed from the previous published release, derived from their metadata, plus staff's notes."""
    notes = release.notes.strip()
    entries: list[str] = []
    if previous is None:
        entries.append("First published release.")
    else:
        if (previous.period_start, previous.period_end) != (release.period_start, release.period_end):
            entries.append(
                f"Period {previous.period_start} to {previous.period_end} became "
                f"{release.period_start} to {release.period_end}."
            )
        delta = release.row_count - previous.row_count
        if delta:
            entries.append(f"{delta:+,} records since {previous.version} ({release.row_count:,} in all).")
        old_fields = [f["name"] for f in previous.codebook]
        new_fields = [f["name"] for f in release.codebook]
        added = [name for name in new_fields if name not in old_fields]
        removed = [name for name in old_fields if name not in new_fields]
        if previous.codebook_version != release.codebook_version:
            entries.append(f"Codebook version {previous.codebook_version} became {release.codebook_version}.")
        if added:
            entries.append(f"Fields added: {', '.join(added)}.")
        if removed:
            entries.append(f"Fields removed: {', '.join(removed)}.")
        if previous.k_anonymity != release.k_anonymity:
            entries.append(f"k-anonymity threshold {previous.k_anonymity} became {release.k_anonymity}.")
        if previous.pseudonym_key_version != release.pseudonym_key_version:
            entries.append(
                f"Pseudonym key version {previous.pseudonym_key_version} became {release.pseudonym_key_version}: "
                "pseudonyms do not link across the two releases."
            )
        if len(entries) == 0:
            entries.append(f"Rebuilt; same period and size as {previous.version}.")
    if notes:
        entries.append(notes)
    return entries


def privacy_summary(dataset: Dataset, release: Release) -> dict:
    """How a release was anonymized, as much as may be said publicly (no per-cell or per-level counts)."""
    anonymization = release.anonymization or {}
    if dataset.level == Dataset.Level.AGGREGATE:
        if "epsilon" in anonymization:  # a differentially private summary (docs/aggregates.md)
            text = (
                "Aggregate counts only, each with differentially private noise "
                f"({anonymization.get('mechanism', 'discrete Laplace')}): the privacy unit is the account, each "
                f"account counts at most {anonymization.get('contribution_bound')} decisions, and the whole release "
                f"spends ε = {anonymization['epsilon']}. No identifiers, free text or exact timestamps."
            )
            return {
                "summary": text,
                "k_anonymity": release.k_anonymity,
                "epsilon": anonymization["epsilon"],
                "privacy_unit": anonymization.get("privacy_unit", "account"),
                "contribution_bound": anonymization.get("contribution_bound"),
                "measures": ["differential privacy", "contribution bounding"],
            }
        text = (
            f"Aggregate counts only. A cell is published only if it counts at least {release.k_anonymity} "
            f"decisions of at least {release.k_anonymity} distinct accounts; no identifiers, free text or exact "
            "timestamps."
        )
        return {"summary": text, "k_anonymity": release.k_anonymity, "measures": ["small-cell suppression"]}
    quasi = list(anonymization.get("quasi_identifiers") or [])
    hierarchies = anonymization.get("hierarchies") or {}
    ladder = [f"{name}: {' → '.join(levels)}" for name, levels in hierarchies.items()] or list(
        anonymization.get("ladder") or []
    )
    text = (
        f"Every combination of quasi-identifiers (every field the DSA Transparency Database also publishes, plus "
        f"country, language, account type, policy, detection source and subject type) covers at least "
        f"{release.k_anonymity} distinct accounts (k-anonymity: one precision per field per release, local recoding "
        "of country to region, then suppression); sensitive attributes are never certain within a class; releases "
        "cover disjoint periods. Identifiers are pseudonyms keyed per project (HMAC-SHA256). Platform ids, free "
        "text, URLs and exact timestamps are never released; views and time to action are bucketed (docs/privacy.md)."
    )
    return {
        "summary": text,
        "k_anonymity": release.k_anonymity,
        "quasi_identifiers": quasi,
        "generalization_ladder": ladder,
        "precision": dict(anonymization.get("precision") or {}),
        "pseudonyms": "HMAC-SHA256 keyed per project",
        "removed_fields": list(anonymization.get("removed_fields") or []),
        "measures": ["pseudonymization", "k-anonymity", "generalization", "suppression", "bucketing"],
    }


def modalities_of(dataset: Dataset) -> list[str]:
    if dataset.sensitivity == Dataset.Sensitivity.PUBLIC:
        return ["public"]
    if dataset.level == Dataset.Level.AGGREGATE:
        return ["aggregate"]
    return ["aggregate", "records", "records_and_exports"]


def _field(entry: dict) -> dict:
    """A codebook field as the catalogue shows it (no internal column names)."""
    keep = ("name", "type", "description", "filterable", "nullable", "values", "closed")
    return {key: entry[key] for key in keep if key in entry}


def catalogue(base_url: str) -> dict:
    """The catalogue as plain data (the JSON form); ``base_url`` is the site's scheme and host."""
    base = base_url.rstrip("/")
    datasets = []
    for dataset, releases in published_datasets():
        latest = releases[-1]
        entries = []
        previous = None
        for release in releases:
            entries.append(
                {
                    "version": release.version,
                    "published_at": release.published_at,
                    "period_start": release.period_start,
                    "period_end": release.period_end,
                    "row_count": release.row_count,
                    "sha256": release.sha256,
                    "codebook_version": release.codebook_version,
                    "k_anonymity": release.k_anonymity,
                    "change_log": change_log(previous, release),
                    "url": f"{base}/api/v1/datasets/{dataset.slug}/releases/{release.version}",
                    "landing_page": cite.persistent_url(release),
                    "doi": release.doi or None,
                    "citation": cite.as_text(release),
                }
            )
            previous = release
        datasets.append(
            {
                "slug": dataset.slug,
                "title": dataset.title,
                "description": dataset.description,
                "level": dataset.level,
                "sensitivity": dataset.sensitivity,
                "access_modalities": modalities_of(dataset),
                "period_start": min((r.period_start for r in releases if r.period_start), default=None),
                "period_end": max((r.period_end for r in releases if r.period_end), default=None),
                "latest_release": latest.version,
                "codebook_version": latest.codebook_version,
                "fields": [_field(entry) for entry in latest.codebook],
                "releases": list(reversed(entries)),  # newest first, like the API
                "privacy": privacy_summary(dataset, latest),
            }
        )
    return {
        "title": "Research data catalogue",
        "description": (
            "Anonymized content-moderation data this platform makes available to vetted researchers under "
            "Article 40 of the Digital Services Act, with its structure, periods, releases and change logs."
        ),
        "publisher": settings.CATALOGUE_PUBLISHER,
        "contact_email": settings.CATALOGUE_CONTACT_EMAIL,
        "homepage": f"{base}/portal/catalogue/",
        "api": {"endpoint": f"{base}/api/v1/", "schema": f"{base}/api/schema/", "docs": f"{base}/api/docs/"},
        "vetting_routes": VETTING_ROUTES,
        "access_modalities": [{"name": name, **MODALITIES[name]} for name in MODALITIES],
        "modified": max((r["releases"][0]["published_at"] for r in datasets), default=None),
        "datasets": datasets,
    }


# --------------------------------------------------------------------------- DCAT-AP
def _date(value: dt.date | None) -> dict | None:
    return {"@value": value.isoformat(), "@type": "xsd:date"} if value else None


def _datetime(value: dt.datetime | None) -> dict | None:
    if value is None:
        return None
    return {"@value": value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "@type": "xsd:dateTime"}


def _period(start: dt.date | None, end: dt.date | None) -> dict | None:
    if not (start or end):
        return None
    return _compact({"@type": "dct:PeriodOfTime", "dcat:startDate": _date(start), "dcat:endDate": _date(end)})


def _compact(node: dict) -> dict:
    return {key: value for key, value in node.items() if value not in (None, [], "")}


def _lang(text: str) -> dict:
    return {"@value": text, "@language": "en"}


def _schema(base: str, dataset: dict, version: str, codebook_version: str, fields: Iterable[dict]) -> dict:
    return {
        "@id": f"{base}/api/v1/public/catalogue#codebook-{dataset['slug']}-{codebook_version}",
        "@type": "dct:Standard",
        "dct:title": _lang(f"Codebook {codebook_version} of {dataset['title']}"),
        "csvw:tableSchema": {
            "@type": "csvw:Schema",
            "csvw:column": [
                _compact(
                    {
                        "@type": "csvw:Column",
                        "csvw:name": field["name"],
                        "csvw:datatype": CSVW_DATATYPES.get(field["type"], "string"),
                        "dct:type": field["type"],
                        "dct:description": _lang(field["description"]),
                        "csvw:separator": " " if field["type"] == "list" else None,
                    }
                )
                for field in fields
            ],
        },
    }


def catalogue_jsonld(document: dict) -> dict:
    """The catalogue as DCAT-AP 3 JSON-LD, with its context embedded (no remote context to fetch)."""
    base = document["api"]["endpoint"].removesuffix("/api/v1/")
    catalogue_id = f"{base}/api/v1/public/catalogue"
    publisher = {"@id": f"{catalogue_id}#publisher", "@type": "foaf:Agent", "foaf:name": document["publisher"]}
    contact = {
        "@id": f"{catalogue_id}#contact",
        "@type": "vcard:Kind",
        "vcard:fn": document["publisher"],
        "vcard:hasEmail": {"@id": f"mailto:{document['contact_email']}"},
    }
    services = [
        {
            "@id": f"{catalogue_id}#service-{name}",
            "@type": "dcat:DataService",
            "dct:title": _lang(MODALITIES[name]["title"]),
            "dct:description": _lang(MODALITIES[name]["description"]),
            "dcat:endpointURL": {"@id": document["api"]["endpoint"]},
            "dcat:endpointDescription": {"@id": document["api"]["schema"]},
            "dct:accessRights": {"@id": ACCESS_RIGHTS["public" if name == "public" else "restricted"]},
            "dcat:servesDataset": [
                {"@id": f"{catalogue_id}#dataset-{d['slug']}"}
                for d in document["datasets"]
                if name in d["access_modalities"]
            ],
        }
        for name in MODALITIES
    ]
    datasets = []
    for dataset in document["datasets"]:
        dataset_id = f"{catalogue_id}#dataset-{dataset['slug']}"
        versions = []
        for index, release in enumerate(dataset["releases"]):  # newest first
            release_id = f"{dataset_id}-{release['version']}"
            older = dataset["releases"][index + 1] if index + 1 < len(dataset["releases"]) else None
            versions.append(
                _compact(
                    {
                        "@id": release_id,
                        "@type": "dcat:Dataset",
                        "dct:identifier": f"{dataset['slug']}/{release['version']}",
                        "dct:title": _lang(f"{dataset['title']}, release {release['version']}"),
                        "dct:description": _lang(dataset["description"]),
                        "dcat:version": release["version"],
                        "dcat:landingPage": {"@id": release["landing_page"]},
                        "adms:versionNotes": _lang(" ".join(release["change_log"])),
                        "dcat:previousVersion": {"@id": f"{dataset_id}-{older['version']}"} if older else None,
                        "dct:issued": _datetime(release["published_at"]),
                        "dct:temporal": _period(release["period_start"], release["period_end"]),
                        "dct:publisher": {"@id": publisher["@id"]},
                        "dct:accessRights": {"@id": ACCESS_RIGHTS[dataset["sensitivity"]]},
                        "dct:conformsTo": {
                            "@id": f"{catalogue_id}#codebook-{dataset['slug']}-{release['codebook_version']}",
                            "@type": "dct:Standard",
                            "dct:title": _lang(f"Codebook {release['codebook_version']} of {dataset['title']}"),
                        },
                        "dct:provenance": {
                            "@type": "dct:ProvenanceStatement",
                            "rdfs:label": _lang(dataset["privacy"]["summary"]),
                        },
                        "dcat:distribution": [
                            {
                                "@id": f"{catalogue_id}#distribution-{dataset['slug']}-{release['version']}",
                                "@type": "dcat:Distribution",
                                "dct:title": _lang(f"Release {release['version']} through the API"),
                                "dcat:accessURL": {"@id": release["url"]},
                                "dcat:accessService": [
                                    {"@id": f"{catalogue_id}#service-{name}"} for name in dataset["access_modalities"]
                                ],
                                "dct:format": {"@id": JSON_FORMAT},
                                "dct:accessRights": {"@id": ACCESS_RIGHTS[dataset["sensitivity"]]},
                                "spdx:checksum": {
                                    "@type": "spdx:Checksum",
                                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                                    "spdx:checksumValue": {"@value": release["sha256"], "@type": "xsd:hexBinary"},
                                },
                                "dct:description": _lang(f"{release['row_count']} records."),
                            }
                        ],
                    }
                )
            )
        datasets.append(
            _compact(
                {
                    "@id": dataset_id,
                    "@type": "dcat:Dataset",
                    "dct:identifier": dataset["slug"],
                    "dct:title": _lang(dataset["title"]),
                    "dct:description": _lang(dataset["description"]),
                    "dct:publisher": {"@id": publisher["@id"]},
                    "dcat:contactPoint": {"@id": contact["@id"]},
                    "dcat:keyword": [_lang(k) for k in ("content moderation", "Digital Services Act", "DSA Art. 40")],
                    "dct:spatial": {"@id": EUROPE},
                    "dct:temporal": _period(dataset["period_start"], dataset["period_end"]),
                    "dct:accessRights": {
                        "@id": ACCESS_RIGHTS[dataset["sensitivity"]],
                    },
                    "dct:provenance": {
                        "@type": "dct:ProvenanceStatement",
                        "rdfs:label": _lang(dataset["privacy"]["summary"]),
                    },
                    "dcat:hasCurrentVersion": {"@id": f"{dataset_id}-{dataset['latest_release']}"},
                    "dcat:hasVersion": [{"@id": v["@id"]} for v in versions],
                    # The current version's, by reference (described once, under that version).
                    "dcat:distribution": [{"@id": d["@id"]} for d in versions[0]["dcat:distribution"]]
                    if versions
                    else None,
                    "dct:conformsTo": _schema(
                        base, dataset, dataset["latest_release"], dataset["codebook_version"], dataset["fields"]
                    ),
                }
            )
        )
        datasets.extend(versions)
    return {
        "@context": CONTEXT,
        "@graph": [
            _compact(
                {
                    "@id": catalogue_id,
                    "@type": "dcat:Catalog",
                    "dct:title": _lang(document["title"]),
                    "dct:description": _lang(document["description"]),
                    "dct:publisher": {"@id": publisher["@id"]},
                    "foaf:homepage": {"@id": document["homepage"]},
                    "dct:modified": _datetime(document["modified"]),
                    "dcat:contactPoint": {"@id": contact["@id"]},
                    "dct:spatial": {"@id": EUROPE},
                    "dcat:dataset": [{"@id": d["@id"]} for d in datasets if "dcat:hasVersion" in d],
                    "dcat:service": [{"@id": s["@id"]} for s in services],
                }
            ),
            publisher,
            contact,
            *services,
            *datasets,
        ],
    }


# --------------------------------------------------------------------------- output shapes
class CatalogueReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    published_at = serializers.DateTimeField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True, help_text="the latest complete day included")
    row_count = serializers.IntegerField()
    sha256 = serializers.CharField()
    codebook_version = serializers.CharField()
    k_anonymity = serializers.IntegerField()
    change_log = serializers.ListField(child=serializers.CharField(), help_text="what changed since the previous one")
    url = serializers.URLField(help_text="the release's metadata in the API (vetted researchers)")
    landing_page = serializers.URLField(help_text="the release's public page: its persistent URL")
    doi = serializers.CharField(allow_null=True)
    citation = serializers.CharField(help_text="how to cite it (docs/citation.md)")


class CataloguePrivacySerializer(serializers.Serializer):
    summary = serializers.CharField()
    k_anonymity = serializers.IntegerField()
    measures = serializers.ListField(child=serializers.CharField())
    quasi_identifiers = serializers.ListField(child=serializers.CharField(), required=False)
    generalization_ladder = serializers.ListField(child=serializers.CharField(), required=False)
    precision = serializers.DictField(child=serializers.CharField(), required=False)
    pseudonyms = serializers.CharField(required=False)
    removed_fields = serializers.ListField(child=serializers.CharField(), required=False)
    epsilon = serializers.FloatField(required=False, help_text="a differentially private release's ε")
    privacy_unit = serializers.CharField(required=False)
    contribution_bound = serializers.IntegerField(required=False, allow_null=True)


class CatalogueFieldSerializer(CodebookFieldSerializer):
    operations = None  # the query operations are for researchers (see the codebook in the API)


class CatalogueDatasetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    level = serializers.ChoiceField(choices=Dataset.Level.choices)
    sensitivity = serializers.ChoiceField(choices=Dataset.Sensitivity.choices)
    access_modalities = serializers.ListField(child=serializers.ChoiceField(choices=list(MODALITIES)))
    period_start = serializers.DateField(allow_null=True, help_text="first day covered by any published release")
    period_end = serializers.DateField(allow_null=True, help_text="last day covered by any published release")
    latest_release = serializers.CharField()
    codebook_version = serializers.CharField()
    fields = CatalogueFieldSerializer(many=True, help_text="the latest release's codebook")
    releases = CatalogueReleaseSerializer(many=True, help_text="published releases, newest first")
    privacy = CataloguePrivacySerializer()


class CatalogueModalitySerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()


class CatalogueApiSerializer(serializers.Serializer):
    endpoint = serializers.URLField()
    schema = serializers.URLField()
    docs = serializers.URLField()


class CatalogueSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField()
    publisher = serializers.CharField()
    contact_email = serializers.EmailField()
    homepage = serializers.URLField()
    api = CatalogueApiSerializer()
    vetting_routes = serializers.ListField(child=serializers.CharField())
    access_modalities = CatalogueModalitySerializer(many=True)
    modified = serializers.DateTimeField(allow_null=True, help_text="when the newest release was published")
    datasets = CatalogueDatasetSerializer(many=True)


# --------------------------------------------------------------------------- views
class JSONLDRenderer(FastJSONRenderer):
    media_type = JSONLD_MEDIA_TYPE
    format = "jsonld"


def _base_url(request: HttpRequest) -> str:
    # The platform's public address, not the request's Host: identifiers must not vary by client.
    return settings.PUBLIC_BASE_URL.rstrip("/")


class CatalogueView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicAnonThrottle]
    renderer_classes = [FastJSONRenderer, JSONLDRenderer]

    @extend_schema(
        operation_id="public_catalogue",
        summary="Public data catalogue",
        description=(
            "Every dataset with at least one published release: description, fields and types (the codebook), "
            "periods covered, published releases with their change logs, access modalities and an anonymization "
            "summary. Send `Accept: application/ld+json` (or `?format=jsonld`) for DCAT-AP 3 JSON-LD with an "
            "embedded context. No authentication; rate limited per client address."
        ),
        responses={
            (200, "application/json"): CatalogueSerializer,
            (200, JSONLD_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.OBJECT, description="DCAT-AP 3 JSON-LD"),
            **error_responses(429, s429="rate_limited (see Retry-After)"),
        },
        auth=[],
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        document = catalogue(_base_url(request))
        if request.accepted_renderer.format == JSONLDRenderer.format:
            body = catalogue_jsonld(document)
        else:
            body = CatalogueSerializer(document).data
        response = Response(body)
        response["Vary"] = "Accept"
        return response


def catalogue_page(request: HttpRequest) -> HttpResponse:
    """The catalogue for people (``/portal/catalogue/``): the same document as the API."""
    return render(request, "portal/catalogue.html", {"catalogue": catalogue(_base_url(request))})


urlpatterns = [
    path("public/catalogue", CatalogueView.as_view(), name="public-catalogue"),
]
