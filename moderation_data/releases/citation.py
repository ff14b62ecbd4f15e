"""How to cite a release (docs/citation.md): the same facts as text, a structured object, BibTeX and RIS.

A citation pins the exact data: provider (``PROVIDER_NAME``), dataset title, version, period
covered, row count and sha256, a persistent URL under ``PUBLIC_BASE_URL`` and, when the release has
one, its DOI. The release endpoint, the portal's release page and every export manifest carry it.
"""

from __future__ import annotations

import re

from django.conf import settings

from moderation_data.releases.models import Release

FORMATS = ("text", "bibtex", "ris", "json")
CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "bibtex": "application/x-bibtex; charset=utf-8",
    "ris": "application/x-research-info-systems; charset=utf-8",
}
EXTENSIONS = {"text": "txt", "bibtex": "bib", "ris": "ris"}


def landing_path(release: Release) -> str:
    """The release's public page (its persistent URL without the host)."""
    return f"/portal/releases/{release.dataset.slug}/{release.version}"


def persistent_url(release: Release) -> str:
    return f"{settings.PUBLIC_BASE_URL}{landing_path(release)}"


def citation_api_path(release: Release, fmt: str) -> str:
    return f"/api/v1/datasets/{release.dataset.slug}/releases/{release.version}/citation?format={fmt}"


def metadata(release: Release) -> dict:
    """The facts of a citation, as the API and manifests show them."""
    published = release.published_at or release.created_at
    return {
        "provider": settings.PROVIDER_NAME,
        "title": release.dataset.title,
        "dataset": release.dataset.slug,
        "version": release.version,
        "year": published.year,
        "published_on": published.date().isoformat(),
        "period_start": release.period_start.isoformat() if release.period_start else None,
        "period_end": release.period_end.isoformat() if release.period_end else None,
        "row_count": release.row_count,
        "sha256": release.sha256,
        "url": persistent_url(release),
        "doi": release.doi or None,
        "notes": release.notes,
        # Public files beside the persistent page (the API's .../citation?format= needs a token).
        "downloads": {fmt: f"{persistent_url(release)}/citation.{EXTENSIONS[fmt]}" for fmt in ("bibtex", "ris")},
    }


def as_text(release: Release) -> str:
    """A plain-text citation (APA-like): who, when, what, which version, how much, how to check, where."""
    facts = metadata(release)
    where = f"https://doi.org/{facts['doi']}" if facts["doi"] else facts["url"]
    return (
        f"{facts['provider']} ({facts['year']}). {facts['title']}, release {facts['version']} [Data set]. "
        f"Period {facts['period_start']} to {facts['period_end']}, {facts['row_count']} records, "
        f"sha256 {facts['sha256']}. Provided under DSA Art. 40 vetted-researcher data access. {where}"
    )


def _bibtex_escape(text: str) -> str:
    return re.sub(r"([{}%&$#_])", r"\\\1", str(text))


def bibtex_key(release: Release) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", release.dataset.slug).strip("_")
    version = re.sub(r"[^A-Za-z0-9]+", "_", release.version).strip("_")
    return f"{slug}_{version}"


def as_bibtex(release: Release) -> str:
    facts = metadata(release)
    fields = {
        "author": "{" + _bibtex_escape(facts["provider"]) + "}",  # a corporate author: one name, kept whole
        "title": "{" + _bibtex_escape(f"{facts['title']}, release {facts['version']}") + "}",
        "year": str(facts["year"]),
        "version": _bibtex_escape(facts["version"]),
        "publisher": _bibtex_escape(facts["provider"]),
        "url": facts["url"],
        "note": _bibtex_escape(
            f"Period {facts['period_start']} to {facts['period_end']}; {facts['row_count']} records; "
            f"sha256 {facts['sha256']}. DSA Art. 40 vetted-researcher data access."
        ),
    }
    if facts["doi"]:
        fields["doi"] = facts["doi"]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@misc{{{bibtex_key(release)},\n{body}\n}}\n"


def as_ris(release: Release) -> str:
    facts = metadata(release)
    lines = [
        ("TY", "DATA"),
        ("AU", facts["provider"]),
        ("TI", f"{facts['title']}, release {facts['version']}"),
        ("PY", str(facts["year"])),
        ("DA", facts["published_on"].replace("-", "/")),
        ("PB", facts["provider"]),
        ("ET", facts["version"]),
        ("UR", facts["url"]),
        (
            "N1",
            f"Period {facts['period_start']} to {facts['period_end']}; {facts['row_count']} records; "
            f"sha256 {facts['sha256']}",
        ),
    ]
    if facts["doi"]:
        lines.append(("DO", facts["doi"]))
    lines.append(("ER", ""))
    # RIS: a two-letter tag, two spaces, a hyphen, a space; CRLF line ends.
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines)


def render(release: Release, fmt: str) -> str:
    """The citation in ``fmt`` (text, bibtex or ris)."""
    return {"text": as_text, "bibtex": as_bibtex, "ris": as_ris}[fmt](release)
