"""The platform's documentation as pages of the portal (docs/api.md): readable offline, no login needed.

* ``/portal/docs/`` and ``/portal/docs/<page>``: the repository's ``docs/*.md`` rendered to HTML
  (links between pages keep working; the crosswalk page adds its tables from
  :mod:`moderation_data.query.crosswalk`).
* ``/portal/docs/codebook/<slug>``: a dataset's codebook for humans, read from its newest published
  release (so it shows what the data really holds): fields, types, allowed values with labels, the
  countries behind each region code, bucket ranges and the precision the release kept for each quasi-identifier.
* ``/portal/releases/<slug>/<version>``: a release's persistent page (its citation URL), with the
  citation as text, BibTeX and RIS.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import markdown
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, re_path
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from moderation_data.catalog import enums
from moderation_data.catalog.codebook import CODEBOOK_VERSION, codebook_for, country_names
from moderation_data.catalog.models import Dataset
from moderation_data.query import crosswalk
from moderation_data.releases import citation as cite
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import LATEST, get_release

DOCS_DIR = Path(settings.BASE_DIR) / "docs"
_PAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Relative links to another page (``query.md#pages``) become links to its portal page (``query#pages``).
_MD_LINK = re.compile(r'href="(?![a-z]+:|/|#)([a-z0-9_-]+)\.md(#[^"]*)?"')
# The order of the index; pages not named here follow, alphabetically.
PAGE_ORDER = [
    "api", "authentication", "query", "raw-http", "aggregates", "data", "privacy", "pseudonyms", "exports",
    "quotas", "citation", "crosswalk", "vetting", "dsa-article-40", "catalogue", "security", "scaling",
]  # fmt: skip


def _pages() -> list[str]:
    names = sorted(p.stem for p in DOCS_DIR.glob("*.md") if _PAGE_NAME.fullmatch(p.stem))
    return sorted(names, key=lambda n: (PAGE_ORDER.index(n) if n in PAGE_ORDER else len(PAGE_ORDER), n))


@lru_cache(maxsize=64)
def _render(path: Path, mtime: float) -> tuple[str, str, str]:
    """(title, HTML, table of contents) of a markdown file; cached until the file changes."""
    converter = markdown.Markdown(extensions=["tables", "fenced_code", "toc", "sane_lists"])
    text = path.read_text(encoding="utf-8")
    html = _MD_LINK.sub(lambda m: f'href="{m.group(1)}{m.group(2) or ""}"', converter.convert(text))
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
    return title, html, converter.toc


def _page(name: str) -> tuple[str, str, str]:
    path = DOCS_DIR / f"{name}.md"
    if not _PAGE_NAME.fullmatch(name) or not path.is_file():
        raise Http404("No such documentation page.")
    return _render(path, path.stat().st_mtime)


def _datasets() -> list[Dataset]:
    return list(Dataset.objects.active().order_by("slug"))


@require_GET
def docs_index(request: HttpRequest) -> HttpResponse:
    pages = [(name, _page(name)[0]) for name in _pages()]
    return render(request, "portal/docs/index.html", {"pages": pages, "datasets": _datasets()})


@require_GET
def docs_page(request: HttpRequest, page: str) -> HttpResponse:
    title, html, toc = _page(page)
    context = {"title": title, "html": mark_safe(html), "toc": mark_safe(toc), "page": page, "pages": _pages()}  # noqa: S308 - our own docs
    if page == "crosswalk":
        context["crosswalk"] = {
            "dsa": crosswalk.DSA_COLUMNS,
            "tiktok_parameters": crosswalk.TIKTOK_PARAMETERS,
            "tiktok_fields": crosswalk.TIKTOK_FIELDS,
        }
    return render(request, "portal/docs/page.html", context)


def _codebook_of(dataset: Dataset) -> tuple[list[dict], str, Release | None]:
    release = get_release(dataset, LATEST)
    if release is not None and release.codebook:
        return release.codebook, release.codebook_version, release
    return codebook_for(dataset.slug), CODEBOOK_VERSION, None


@require_GET
def codebook_page(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = Dataset.objects.active().filter(slug=slug).first()
    if dataset is None:
        raise Http404("No such dataset.")
    codebook, version, release = _codebook_of(dataset)
    names = country_names()
    fields = []
    for entry in codebook:
        regions = entry.get("regions")
        if regions is None and entry["name"] == "country":  # codebooks from before regions were listed
            regions = {region: sorted(codes) for region, codes in enums.REGIONS.items()}
        fields.append(
            {
                **entry,
                "values": entry.get("values", []),
                "region_rows": [
                    {
                        "code": code,
                        "label": enums.REGION_LABELS.get(code, code),
                        "countries": [f"{c} ({names.get(c, c)})" for c in countries],
                    }
                    for code, countries in (regions or {}).items()
                ],
            }
        )
    # The quasi-identifiers with the precision this release kept, the sensitive attributes (docs/privacy.md),
    # and any field whose
    # description says how it is generalized (codebooks from before one precision per field).
    generalized = [
        f
        for f in fields
        if f.get("quasi_identifier")
        or f.get("sensitive")
        or "k-anonymity" in f.get("description", "")
        or f["name"].endswith("_granularity")
    ]
    context = {
        "dataset": dataset,
        "fields": fields,
        "generalized": generalized,
        "codebook_version": version,
        "release": release,
        "other_regions": {code: enums.REGION_LABELS[code] for code in (enums.NON_EEA_REGION, enums.OTHER_COUNTRY)},
        "k": release.k_anonymity if release else dataset.k_anonymity,
    }
    return render(request, "portal/docs/codebook.html", context)


def _public_release(slug: str, version: str) -> Release:
    """A published or withdrawn release: its persistent page stays, saying when it was withdrawn."""
    release = (
        Release.objects.filter(
            dataset__slug=slug, version=version, status__in=[Release.Status.PUBLISHED, Release.Status.WITHDRAWN]
        )
        .select_related("dataset")
        .first()
    )
    if release is None:
        raise Http404("No such release.")
    return release


@require_GET
def release_page(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    release = _public_release(slug, version)
    context = {
        "release": release,
        "facts": cite.metadata(release),
        "text": cite.as_text(release),
        "bibtex": cite.as_bibtex(release),
        "ris": cite.as_ris(release),
    }
    return render(request, "portal/docs/release.html", context)


@require_GET
def release_citation_file(request: HttpRequest, slug: str, version: str, extension: str) -> HttpResponse:
    release = _public_release(slug, version)
    fmt = {"bib": "bibtex", "ris": "ris", "txt": "text"}[extension]
    response = HttpResponse(cite.render(release, fmt), content_type=cite.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{cite.bibtex_key(release)}.{extension}"'
    return response


app_name = "docs"
urlpatterns = [
    path("docs/", docs_index, name="index"),
    path("docs/codebook/<slug:slug>", codebook_page, name="codebook"),
    path("docs/<str:page>", docs_page, name="page"),
    path("releases/<slug:slug>/<str:version>", release_page, name="release"),
    re_path(
        r"^releases/(?P<slug>[-a-zA-Z0-9_]+)/(?P<version>[^/]+)/citation\.(?P<extension>bib|ris|txt)$",
        release_citation_file,
        name="release-citation",
    ),
]
