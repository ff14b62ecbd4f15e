"""Citations of a release as plain text, BibTeX or RIS.

The platform's release metadata carries a suggested plain-text citation, and may carry ready-made
BibTeX and RIS; when it does not, they are written here from the same metadata (title, version,
period, row count, sha256), which pin the exact data a paper used.
"""

from __future__ import annotations

import re
from typing import Any

FORMATS = ("text", "bibtex", "ris")


def _server_citation(meta: dict[str, Any], format: str) -> str | None:
    """A citation in ``format`` as the server offers it, if it does (a string, or a dict by format)."""
    for key in ("citations", "citation"):
        value = meta.get(key)
        if isinstance(value, dict):
            for name in (format, {"text": "plain", "ris": "ris", "bibtex": "bib"}[format]):
                if isinstance(value.get(name), str) and value[name].strip():
                    return value[name]
    if format == "text" and isinstance(meta.get("citation"), str):
        return meta["citation"]
    return None


def _year(meta: dict[str, Any]) -> str:
    for key in ("published_at", "created_at", "period_end"):
        value = meta.get(key)
        if isinstance(value, str) and re.match(r"\d{4}", value):
            return value[:4]
    return ""


def _publisher(meta: dict[str, Any]) -> str:
    value = meta.get("provider") or meta.get("publisher")
    if isinstance(value, dict):
        value = value.get("name")
    return str(value or "DSA Art. 40 vetted-researcher data access")


def citation(meta: dict[str, Any], title: str, format: str = "text") -> str:
    """The citation of a release (``meta``: the release endpoint's answer; ``title``: the dataset's title)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    offered = _server_citation(meta, format)
    if offered:
        return offered
    version, year = str(meta.get("release") or meta.get("version") or ""), _year(meta)
    dataset = str(meta.get("dataset") or "")
    period = f"{meta.get('period_start')} to {meta.get('period_end')}"
    rows, sha = meta.get("row_count"), meta.get("sha256") or ""
    note = f"Release {version}, period {period}, {rows} records, sha256 {sha}"
    url, doi = meta.get("url") or meta.get("persistent_url") or "", meta.get("doi") or ""
    if format == "text":
        return f"{title}, release {version} ({year}) [data set], period {period}, {rows} records, sha256 {sha}." + (
            f" https://doi.org/{doi}" if doi else f" {url}" if url else ""
        )
    if format == "bibtex":
        key = re.sub(r"[^A-Za-z0-9]+", "_", f"{dataset or title}_{version}").strip("_")
        fields = {
            "title": f"{{{title}}}",
            "version": version,
            "year": year,
            "publisher": _publisher(meta),
            "note": note,
            "doi": doi,
            "url": url,
        }
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items() if value)
        return f"@misc{{{key},\n{body}\n}}"
    lines = [
        ("TY", "DATA"),
        ("TI", title),
        ("PY", year),
        ("PB", _publisher(meta)),
        ("ET", version),
        ("N1", note),
        ("DO", doi),
        ("UR", url),
        ("ER", ""),
    ]
    return "\n".join(f"{tag}  - {value}".rstrip() for tag, value in lines if value or tag == "ER")
