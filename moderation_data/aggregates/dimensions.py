"""What an aggregate can be grouped by: each dimension's SQL and its public domain of keys (docs/aggregates.md).

Every key of a dimension's domain is answered, zero or not, and the domain comes from the codebook
(or the release's public period for months), never from the data: which keys appear therefore
says nothing about anyone. Countries are grouped as a transparency report groups them (each EEA
country, the regions, every other country under ``NON_EEA``); any other value outside a domain is
a bug and refused loudly (``DomainError``), never dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Hashable

from moderation_data.catalog import enums, generalization
from moderation_data.catalog.codebook import codebook_for
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import codebook_fields

Key = Hashable  # str, bool or None
# The EEA countries and the codes generalized rows carry (regions, NON_EEA, OTHER): what countries group into.
COUNTRY_KEYS = (*enums.EUROPEAN_COUNTRY_CODES, *enums.REGION_LABELS)


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str
    sql: str  # an expression over the aggregation table's columns (codebook names; never user input)
    keys: tuple[Key, ...]
    fold: str | None = None  # the key an out-of-domain value counts under (open domains only)

    @functools.cached_property
    def positions(self) -> dict[Key, int]:
        """Each key's position in the domain (the order answers are listed in)."""
        return {key: i for i, key in enumerate(self.keys)}


class DomainError(RuntimeError):
    """A value outside a closed domain: the codebook and the data disagree (a bug, never silently dropped)."""


def _quote(column: str) -> str:
    assert column.replace("_", "").isalnum(), column
    return f'"{column}"'


def _months(first: dt.date, last: dt.date) -> tuple[str, ...]:
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


def release_months(release: Release) -> tuple[str, ...]:
    """The months a release's rows can fall in, from its public period (a week-generalized date is the
    Monday of its week, which can fall up to six days before the period starts)."""
    if release.period_start is None or release.period_end is None:
        return ()
    return _months(release.period_start - dt.timedelta(days=6), release.period_end)


def _groupable(entry: dict, dataset_slug: str) -> bool:
    if "groupable" in entry:
        return bool(entry["groupable"])
    # Releases built before the codebook marked groupable fields: the current codebook decides.
    current = {f["name"]: f for f in codebook_for(dataset_slug)}
    return bool(current.get(entry["name"], {}).get("groupable"))


def groupable_fields(release: Release) -> list[str]:
    """The fields of a release aggregates may group by, in codebook order."""
    return [name for name, entry in codebook_fields(release).items() if _groupable(entry, release.dataset.slug)]


def dimension(release: Release, name: str) -> Dimension:
    """The dimension of a groupable codebook field (callers check :func:`groupable_fields` first)."""
    entry = codebook_fields(release)[name]
    column = _quote(entry["column"])
    nullable = [None] if entry.get("nullable", True) else []
    kind = entry["type"]
    if kind == "date":
        return Dimension(name, f"to_char({column}, 'YYYY-MM')", (*release_months(release), *nullable))
    if kind == "boolean":
        return Dimension(name, column, (True, False, *nullable))
    if name == "country":
        # Grouped as a DSA transparency report does: each EEA country, the regions that generalized rows carry,
        # and every other country together under NON_EEA (~40 keys instead of ~250; docs/aggregates.md).
        return Dimension(name, column, (*COUNTRY_KEYS, *nullable), fold=enums.NON_EEA_REGION)
    return Dimension(name, column, (*(v["value"] for v in entry.get("values", [])), *nullable))


# --- the public summary's dimensions (a transparency report's: docs/aggregates.md) --------------------------

UNKNOWN = "unknown"
NOT_APPEALED = "not_appealed"
# Each is crossed with the month; the summary publishes one table per dimension.
SUMMARY_TABLES = ("policy", "detection_source", "country", "appeal_outcome", "action")


def _choices(*choice_classes) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for cls in choice_classes for value in cls.values))


def summary_dimensions(release: Release) -> dict[str, Dimension]:
    """month, and the dimensions each crossed with it: policy, detection source, country or region,
    appeal outcome and action (the most severe one, as a DSA key)."""
    actions = _choices(enums.DecisionAccount, enums.DecisionProvision, enums.DecisionVisibility, enums.DecisionMonetary)
    return {
        "month": Dimension("month", "to_char(\"decided_on\", 'YYYY-MM')", release_months(release)),
        "policy": Dimension("policy", "coalesce(\"policy\", 'other')", _choices(enums.Policy)),
        "detection_source": Dimension(
            "detection_source",
            f"coalesce(\"detection_source\", '{UNKNOWN}')",
            (*_choices(enums.DetectionSource), UNKNOWN),
        ),
        "country": Dimension(
            "country", f"coalesce(\"country\", '{UNKNOWN}')", (*COUNTRY_KEYS, UNKNOWN), fold=enums.NON_EEA_REGION
        ),
        "appeal_outcome": Dimension(
            "appeal_outcome",
            f"CASE WHEN \"appealed\" THEN coalesce(\"appeal_outcome\", 'pending') ELSE '{NOT_APPEALED}' END",
            (*_choices(enums.AppealOutcome), NOT_APPEALED),
        ),
        "action": Dimension(
            "action",
            'coalesce("decision_account", "decision_provision", "decision_visibility"[1], "decision_monetary",'
            " 'other')",
            # a release whose decision_visibility is at group precision (docs/privacy.md) names the group
            (*actions, *generalization.VISIBILITY_GROUP_LABELS, "other"),
        ),
    }


def locate(dimensions: tuple[Dimension, ...], values: tuple) -> tuple[Key, ...]:
    """The domain key of each value (folded where the domain is open); DomainError when a closed domain lacks it."""
    keys = []
    for dim, value in zip(dimensions, values, strict=True):
        if value in dim.positions:
            keys.append(value)
        elif dim.fold is not None:
            keys.append(dim.fold)
        else:
            raise DomainError(f"{value!r} is not in the domain of {dim.name}")
    return tuple(keys)
