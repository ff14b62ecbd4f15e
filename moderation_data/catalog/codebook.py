"""The codebook: every field a dataset's releases expose, with its type, meaning and values.

A codebook is stored on each release (``Release.codebook``, a list of field dicts) so it is
versioned with the data; :func:`codebook_for` produces the current one for a new build. Field
types: ``pseudonym``, ``date``, ``month``, ``enum``, ``list`` (of enum values), ``boolean``,
``bucket`` (ordered labels), ``string``, ``integer``. Each field says which SQL ``column`` holds
it in the release's rows table and which query ``operations`` apply.

Every filterable field has a closed domain (``values`` with ``closed: true``): DSA keys, ISO 3166-1
country codes with the region codes of generalized rows, ISO 639-1 language codes, bucket labels.
The query language refuses a value outside it (docs/query.md), and the portal's codebook page lists
it (docs/data.md). :func:`query_values` is the domain a query checks, for releases built before
every domain was closed too.
"""

from __future__ import annotations

from functools import cache

import pycountry

from moderation_data.catalog import enums, generalization
from moderation_data.query.language import OPERATIONS_BY_TYPE

CODEBOOK_VERSION = "1"

VIEWS_BUCKETS = [
    {"value": "0", "label": "no views", "min": 0, "max": 0},
    {"value": "1-100", "label": "1 to 100 views", "min": 1, "max": 100},
    {"value": "101-1000", "label": "101 to 1,000 views", "min": 101, "max": 1000},
    {"value": "1001-10000", "label": "1,001 to 10,000 views", "min": 1001, "max": 10000},
    {"value": ">10000", "label": "more than 10,000 views", "min": 10001, "max": None},
]
TIME_TO_ACTION_BUCKETS = [
    {"value": "<1h", "label": "under one hour", "min_seconds": 0, "max_seconds": 3599},
    {"value": "1-24h", "label": "one hour to one day", "min_seconds": 3600, "max_seconds": 86399},
    {"value": "1-7d", "label": "one to seven days", "min_seconds": 86400, "max_seconds": 604799},
    {"value": ">7d", "label": "more than seven days", "min_seconds": 604800, "max_seconds": None},
]


def _labelled(labels: dict[str, str]) -> list[dict]:
    return [{"value": value, "label": label} for value, label in labels.items()]


# Short codes that stand for a whole list value in compact pages (``format=columns``) and are
# documented on the field (``named_sets``): a decision applying in every EEA country is "EEA"
# rather than thirty country codes. A list equal to the set, in any order, is answered with the code.
NAMED_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "territorial_scope": {"EEA": tuple(sorted(enums.EUROPEAN_COUNTRY_CODES))},
}


def named_sets_of(field_name: str) -> dict[str, tuple[str, ...]]:
    """The named sets of a list field (today's definitions: they hold for every release)."""
    return NAMED_SETS.get(field_name, {})


def _values(choices) -> list[dict]:
    return [{"value": value, "label": str(label)} for value, label in choices.choices]


# Codes in use beyond ISO 3166-1's assigned ones (the EU uses XK for Kosovo).
EXTRA_COUNTRY_NAMES = {"XK": "Kosovo"}


@cache
def country_names() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code → English short name, for every assigned code (and XK)."""
    names = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    return dict(sorted({**names, **EXTRA_COUNTRY_NAMES}.items()))


def _country_values() -> list[dict]:
    """Every ISO country code, then the codes that replace a country in generalized rows."""
    return [{"value": code, "label": name} for code, name in country_names().items()] + [
        {"value": code, "label": label} for code, label in enums.REGION_LABELS.items()
    ]


def country_regions() -> dict[str, list[str]]:
    """Which countries each region code stands for (rows generalized for k-anonymity carry the region)."""
    return {region: sorted(codes) for region, codes in enums.REGIONS.items()}


def _language_values() -> list[dict]:
    return [{"value": code, "label": name} for code, name in enums.LANGUAGES.items()] + [
        {"value": enums.OTHER_LANGUAGE, "label": "Other (generalized for k-anonymity)"}
    ]


def _field(name: str, type_: str, description: str, *, filterable: bool = True, values=None, buckets=None,
           nullable: bool = True, open_values: bool = False, groupable: bool = False, **extra) -> dict:  # fmt: skip
    entry = {
        "name": name,
        "type": type_,
        "description": description,
        "filterable": filterable,
        # The query language decides which operations a type takes; the codebook only reports it.
        "operations": list(OPERATIONS_BY_TYPE[type_]) if filterable else [],
        "column": name,
        "nullable": nullable,
        # Whether aggregates may group by it (docs/aggregates.md): a small public domain of values.
        "groupable": groupable,
    }
    if groupable and type_ == "date":
        entry["group_granularity"] = "month"
    if values is not None:
        entry["values"] = values
        # A closed list is the field's whole domain: a query with another value is refused.
        entry["closed"] = not open_values
    if buckets is not None:
        entry["buckets"] = buckets
        entry["values"] = [{"value": b["value"], "label": b["label"]} for b in buckets]
        entry["closed"] = True
    entry.update(extra)
    return entry


def moderation_decisions_codebook() -> list[dict]:
    yes_no = "true or false"
    return [
        _field("decision_id", "pseudonym", "The decision, as a pseudonym keyed to your project.", filterable=False,
               nullable=False),
        _field("account_id", "pseudonym", "The account concerned, as a pseudonym keyed to your project: stable "
               "within your project and release series, unlinkable to other projects' pseudonyms.", filterable=False),
        _field("content_id", "pseudonym", "The content item, as a pseudonym keyed to your project.", filterable=False),
        _field("decided_on", "date", "Day the decision was taken (UTC), at the release's precision (its codebook "
               "entry's 'precision': day, week, month, quarter or year; a coarser value is the first day of its "
               "bucket, never before the release's period_start).", nullable=False, groupable=True),
        _field("content_created_month", "month", "Month the content was created (YYYY-MM)."),
        _field("subject_type", "enum", "Whether the decision concerned a content item or an account.",
               values=_values(enums.SubjectType), groupable=True),
        _field("content_type", "list", "DSA content types of the item (any element matches); groups where the "
               "release's precision is 'groups'.", values=_values(enums.ContentType) + _labelled(
                   generalization.CONTENT_TYPE_GROUP_LABELS)),
        _field("decision_visibility", "list", "DSA visibility restrictions applied (any element matches); groups "
               "where the release's precision is 'groups'.", values=_values(enums.DecisionVisibility) + _labelled(
                   generalization.VISIBILITY_GROUP_LABELS)),
        _field("decision_monetary", "enum", "DSA monetary restriction.", values=_values(enums.DecisionMonetary),
               groupable=True),
        _field("decision_provision", "enum", "DSA restriction of the provision of the service.",
               values=_values(enums.DecisionProvision), groupable=True),
        _field("decision_account", "enum", "DSA account restriction.", values=_values(enums.DecisionAccount),
               groupable=True),
        _field("account_type", "enum", "DSA account type (quasi-identifier).", values=_values(enums.AccountType),
               groupable=True),
        _field("decision_ground", "enum", "Illegal content or incompatibility with the terms and conditions.",
               values=_values(enums.DecisionGround), groupable=True),
        _field("category", "enum", "DSA statement category.", values=_values(enums.Category), groupable=True),
        _field("category_specification", "list", "DSA keywords specifying the category (any element matches).",
               values=_values(enums.Keyword)),
        _field("policy", "enum", "The platform's policy that was enforced.", values=_values(enums.Policy),
               groupable=True),
        _field("source_type", "enum", "DSA source of the information that led to the decision.",
               values=_values(enums.SourceType), groupable=True),
        _field("detection_source", "enum", "How the platform found the item.", values=_values(enums.DetectionSource),
               groupable=True),
        _field("automated_detection", "boolean", f"Whether automated means detected the item ({yes_no}).",
               groupable=True),
        _field("automated_decision", "enum", "Degree of automation of the decision.",
               values=_values(enums.AutomatedDecision), groupable=True),
        _field("territorial_scope", "list", "Countries where the decision applies (any element matches). Never "
               "more precise than country: where the country is a region, the regions of these countries (EEA for "
               "all of them); where it is OTHER, EEA or PARTIAL_EEA.",
               values=[{"value": c, "label": c} for c in enums.EUROPEAN_COUNTRY_CODES] + _labelled(
                   generalization.SCOPE_LABELS),
               named_sets={code: list(members) for code, members in NAMED_SETS["territorial_scope"].items()}),
        _field("country", "string", "Country of the uploader (ISO 3166-1 alpha-2, upper case; quasi-identifier). "
               "Where k-anonymity required it, a region code (see regions) or OTHER.", values=_country_values(),
               regions=country_regions(), groupable=True),
        _field("content_language", "enum", "Language of the content (ISO 639-1, upper case; quasi-identifier); "
               "'other' where k-anonymity required it.", values=_language_values(), groupable=True),
        _field("views_before_action", "bucket", "Views of the content before the action.", buckets=VIEWS_BUCKETS,
               groupable=True),
        _field("time_to_action", "bucket", "Time from detection to action.", buckets=TIME_TO_ACTION_BUCKETS,
               groupable=True),
        _field("off_platform_behavior_considered", "boolean", f"Whether off-platform behaviour was considered "
               f"({yes_no}).", groupable=True),
        _field("reported_to_law_enforcement", "boolean", f"Whether the case was reported to law enforcement "
               f"({yes_no}).", groupable=True),
        _field("appealed", "boolean", "Whether the decision was appealed (internal complaint). Never certain "
               "within a class: such classes are suppressed (docs/privacy.md).", groupable=True),
        _field("appeal_outcome", "enum", "Outcome of the appeal, if any.", values=_values(enums.AppealOutcome),
               groupable=True),
        _field("reinstated", "boolean", "Whether the content or account was reinstated after an appeal. Never "
               "certain within a class (docs/privacy.md).", groupable=True),
    ]  # fmt: skip


def enforcement_summary_codebook() -> list[dict]:
    """The public summary's cells: differentially private counts (docs/aggregates.md, "The public summary")."""
    dimensions = ["policy", "detection_source", "country", "appeal_outcome", "action"]
    return [
        _field("month", "month", "Month of the decisions (YYYY-MM).", nullable=False),
        _field("dimension", "enum", "The table the cell belongs to: decisions per month by this dimension.",
               values=[{"value": d, "label": d.replace("_", " ")} for d in dimensions], nullable=False),
        _field("value", "string", "The dimension's value: a policy, a detection source ('unknown' when not "
               "recorded), an EEA country or a region code (NON_EEA for any other country; 'unknown'), an appeal "
               "outcome ('not_appealed' when there was no appeal) or the most severe action as a DSA key.",
               filterable=False, nullable=False),
        _field("decisions", "integer", "Noisy count of decisions (differential privacy, the release's public ε; "
               "may be negative where the true count is small). The response gives the noise scale.",
               nullable=False),
        _field("ci95", "integer", "[low, high]: contains the true count with probability at least 95%.",
               filterable=False, nullable=False),
    ]  # fmt: skip


CODEBOOKS = {"moderation-decisions": moderation_decisions_codebook, "enforcement-summary": enforcement_summary_codebook}


def codebook_for(dataset_slug: str) -> list[dict]:
    return CODEBOOKS[dataset_slug]()


@cache
def _current_domains() -> dict[str, tuple[str, ...]]:
    """Closed domains of today's codebooks by field name (ISO codes do not change with a release)."""
    domains: dict[str, tuple[str, ...]] = {}
    for make in CODEBOOKS.values():
        for entry in make():
            if entry.get("values") and entry.get("closed", True):
                domains.setdefault(entry["name"], tuple(v["value"] for v in entry["values"]))
    return domains


def query_values(entry: dict) -> tuple[str, ...]:
    """The values a query may compare a codebook field with (empty: any value of its type).

    A closed list is the domain. A release built when a field's list was still open (country codes,
    before every domain was closed) gets today's domain of that field, so its queries are checked too.
    """
    values = tuple(v["value"] for v in entry.get("values", []))
    if entry.get("closed", True):
        return values
    current = _current_domains().get(entry["name"], ())
    return tuple(dict.fromkeys((*current, *values))) if current else ()
