"""Names researchers bring from elsewhere, and what this API calls them (docs/crosswalk.md).

Two sources of habits: the EU DSA Transparency Database (its CSV columns, e.g. ``application_date``,
``automated_detection`` with ``Yes``/``No``) and the TikTok Research API (its request envelope:
``start_date``, ``end_date``, ``max_count``, ``search_id``, ``is_random``; its query fields such as
``region_code``). The query language uses these tables to answer a foreign name with this API's
equivalent instead of a bare "unknown field"; the portal renders them as the crosswalk page.

Pure data: no imports from the rest of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

DSA = "DSA Transparency Database column"
TIKTOK_FIELD = "TikTok Research API query field"
TIKTOK_PARAMETER = "TikTok Research API request parameter"
SYNONYM = "common name"


@dataclass(frozen=True)
class Equivalent:
    """What a foreign name is here: a field (``field``) or a request parameter (``parameter``), or nothing."""

    source: str  # DSA, TIKTOK_FIELD, TIKTOK_PARAMETER or SYNONYM
    name: str  # the foreign name
    field: str | None = None  # this API's field, if any
    parameter: str | None = None  # this API's request key, if any
    note: str = ""

    @property
    def target(self) -> str | None:
        return self.field or self.parameter

    def explain(self) -> str:
        """One sentence a researcher reads in an error: what the name is, and what to write here."""
        if self.field and self.field == self.name:
            here = f"this API has the same field {self.field!r}"
        elif self.field:
            here = f"this API's field is {self.field!r}"
        elif self.parameter:
            here = f"this API's equivalent is {self.parameter!r}"
        else:
            here = "this API has no equivalent"
        return f"{self.name!r} is a {self.source}; {here}" + (f" ({self.note})" if self.note else "") + "."


_NOT_RELEASED_TEXT = "free text is never released"
_NOT_RELEASED = "not released"


def _dsa(name: str, field: str | None = None, note: str = "") -> Equivalent:
    return Equivalent(DSA, name, field=field, note=note)


# Every column of the DSA Transparency Database's statement-of-reasons CSV (v1 and v2), in its order.
DSA_COLUMNS: tuple[Equivalent, ...] = (
    _dsa("uuid", "decision_id", "a per-project pseudonym, not filterable; the DSA uuid itself is never released"),
    _dsa("decision_visibility", "decision_visibility", "same DSA keys; a list field"),
    _dsa("decision_visibility_other", None, _NOT_RELEASED_TEXT),
    _dsa("end_date_visibility_restriction", None, _NOT_RELEASED),
    _dsa("decision_monetary", "decision_monetary", "same DSA keys"),
    _dsa("decision_monetary_other", None, _NOT_RELEASED_TEXT),
    _dsa("end_date_monetary_restriction", None, _NOT_RELEASED),
    _dsa("decision_provision", "decision_provision", "same DSA keys"),
    _dsa("end_date_service_restriction", None, _NOT_RELEASED),
    _dsa("decision_account", "decision_account", "same DSA keys"),
    _dsa("end_date_account_restriction", None, _NOT_RELEASED),
    _dsa("account_type", "account_type", "same DSA keys"),
    _dsa("decision_ground", "decision_ground", "same DSA keys"),
    _dsa("decision_ground_reference_url", None, "URLs are never released"),
    _dsa("illegal_content_legal_ground", None, _NOT_RELEASED_TEXT),
    _dsa("illegal_content_explanation", None, _NOT_RELEASED_TEXT),
    _dsa("incompatible_content_ground", "policy", "the platform's policy that was enforced, as a closed list"),
    _dsa("incompatible_content_explanation", None, _NOT_RELEASED_TEXT),
    _dsa("incompatible_content_illegal", None, _NOT_RELEASED),
    _dsa("category", "category", "same DSA keys"),
    _dsa("category_addition", None, _NOT_RELEASED),
    _dsa("category_specification", "category_specification", "same DSA keywords; a list field"),
    _dsa("category_specification_other", None, _NOT_RELEASED_TEXT),
    _dsa("content_type", "content_type", "same DSA keys; a list field"),
    _dsa("content_type_other", None, _NOT_RELEASED_TEXT),
    _dsa("content_language", "content_language", "ISO 639-1, upper case, e.g. DE"),
    _dsa("content_date", "content_created_month", "the month only, YYYY-MM"),
    _dsa("content_id_ean", None, _NOT_RELEASED),
    _dsa("territorial_scope", "territorial_scope", "EEA country codes; a list field"),
    _dsa(
        "application_date",
        "decided_on",
        "the day of the decision, YYYY-MM-DD; the first day of its week or month where k-anonymity required it",
    ),
    _dsa("decision_facts", None, _NOT_RELEASED_TEXT),
    _dsa("source_type", "source_type", "same DSA keys"),
    _dsa("source_identity", None, "never released"),
    _dsa("automated_detection", "automated_detection", "true or false instead of Yes or No"),
    _dsa("automated_decision", "automated_decision", "same DSA keys"),
    _dsa("platform_name", None, "every row comes from this one platform"),
    _dsa("platform_uid", None, "never released; decision_id is a per-project pseudonym"),
    _dsa("puid", None, "never released; decision_id is a per-project pseudonym"),
    _dsa(
        "created_at", "decided_on", "the database's submission time is not released; decided_on is the decision's day"
    ),
)

TIKTOK_PARAMETERS: tuple[Equivalent, ...] = (
    Equivalent(TIKTOK_PARAMETER, "query", parameter="query", note="the same and/or/not groups and operations"),
    Equivalent(TIKTOK_PARAMETER, "fields", parameter="fields", note="an array of field names, or a=b,c in GET"),
    Equivalent(
        TIKTOK_PARAMETER,
        "start_date",
        field="decided_on",
        note='a condition {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]}',
    ),
    Equivalent(
        TIKTOK_PARAMETER,
        "end_date",
        field="decided_on",
        note='a condition {"operation": "LTE", "field_name": "decided_on", "field_values": ["2025-01-31"]}',
    ),
    Equivalent(TIKTOK_PARAMETER, "max_count", parameter="page_size", note="1 to 1000 rows per page, default 100"),
    Equivalent(
        TIKTOK_PARAMETER, "cursor", parameter="cursor", note="an opaque string: pass back next_cursor unchanged"
    ),
    Equivalent(
        TIKTOK_PARAMETER,
        "search_id",
        parameter="cursor",
        note="not needed: next_cursor carries the query and release; pass it back as cursor",
    ),
    Equivalent(
        TIKTOK_PARAMETER, "is_random", note="rows come in a fixed order; every walk returns each row exactly once"
    ),
)

TIKTOK_FIELDS: tuple[Equivalent, ...] = (
    Equivalent(TIKTOK_FIELD, "region_code", field="country", note="ISO 3166-1 alpha-2, upper case, or a region code"),
    Equivalent(TIKTOK_FIELD, "create_date", field="content_created_month", note="the month only, YYYY-MM"),
    Equivalent(TIKTOK_FIELD, "video_id", field="content_id", note="a per-project pseudonym, not filterable"),
    Equivalent(TIKTOK_FIELD, "username", field="account_id", note="a per-project pseudonym, not filterable"),
    Equivalent(TIKTOK_FIELD, "keyword", note="content is never released"),
    Equivalent(TIKTOK_FIELD, "hashtag_name", note="content is never released"),
    Equivalent(TIKTOK_FIELD, "music_id", note="content is never released"),
    Equivalent(TIKTOK_FIELD, "effect_id", note="content is never released"),
    Equivalent(TIKTOK_FIELD, "video_length", note="not released"),
)

# Names people guess; only consulted for names that are not fields (so a real field always wins).
SYNONYMS: tuple[Equivalent, ...] = tuple(
    Equivalent(SYNONYM, name, field=field)
    for name, field in {
        "decision_date": "decided_on",
        "decision_day": "decided_on",
        "date": "decided_on",
        "day": "decided_on",
        "decided_at": "decided_on",
        "actioned_at": "decided_on",
        "language": "content_language",
        "lang": "content_language",
        "country_code": "country",
        "uploader_country": "country",
        "region": "country",
        "views": "views_before_action",
        "detection": "detection_source",
        "detection_method": "detection_source",
        "appeal": "appealed",
        "outcome": "appeal_outcome",
        "content_created_at": "content_created_month",
    }.items()
)

_BY_NAME: dict[str, Equivalent] = {}
for _entry in (*SYNONYMS, *TIKTOK_FIELDS, *DSA_COLUMNS):  # later tables win: DSA's own names first
    _BY_NAME[_entry.name.lower()] = _entry
PARAMETERS: dict[str, Equivalent] = {entry.name: entry for entry in TIKTOK_PARAMETERS}


def field_equivalent(name: str) -> Equivalent | None:
    """What a foreign field name (DSA column, TikTok field, common guess) is called here, if known."""
    return _BY_NAME.get(name.lower())


def parameter_equivalent(name: str) -> Equivalent | None:
    """What a TikTok Research API request parameter is called here, if it is one."""
    return PARAMETERS.get(name)
