"""An aggregate request, validated against a release's codebook, in its canonical form (docs/aggregates.md).

Measures and their contribution bound ``L`` (each account's influence on the whole answer):

* ``decisions``: decisions per group; an account counts at most ``L`` decisions in all (an account
  with ``m > L`` matching decisions counts ``L/m`` for each). L1 sensitivity ``L``.
* ``accounts``: distinct accounts per group; an account counts in at most ``L`` groups (an account in
  ``k > L`` groups counts ``L/k`` in each). L1 sensitivity ``min(L, groups)``.
* ``sum`` / ``mean`` of a bucketed field (``views_before_action``, ``time_to_action``): each decision
  counts its bucket's lower bound, capped decisions as for ``decisions``; rows without a value are
  left out (and the response says so). Sensitivity ``L × largest lower bound`` (and ``L`` for the
  mean's count, which gets half of ε).
"""

from __future__ import annotations

import dataclasses
import json
import math
from decimal import Decimal

from django.conf import settings

from moderation_data.aggregates import dimensions as dims
from moderation_data.aggregates.mechanism import RESOLUTION
from moderation_data.catalog.codebook import TIME_TO_ACTION_BUCKETS, VIEWS_BUCKETS
from moderation_data.query import language as ql
from moderation_data.query.records import fields_within, precisions, query_fields, within_period
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import codebook_fields
from platform_api.errors import InvalidRequest, NotFoundError

MAX_GROUP_BY = 3
MEASURES = ("decisions", "accounts", "sum", "mean")
EPSILON_QUANTUM = Decimal("0.000001")


@dataclasses.dataclass(frozen=True)
class ValueField:
    """A bucketed field summed as each bucket's lower bound (in ``unit``)."""

    name: str
    unit: str
    lower_bounds: tuple[tuple[str, int], ...]

    @property
    def maximum(self) -> int:
        return max(bound for _, bound in self.lower_bounds)

    def sql(self, column: str) -> str:
        whens = " ".join(f"WHEN '{label}' THEN {int(bound)}" for label, bound in self.lower_bounds)
        return f'(CASE "{column}" {whens} END)'


VALUE_FIELDS = {
    "views_before_action": ValueField(
        "views_before_action", "views", tuple((b["value"], int(b["min"])) for b in VIEWS_BUCKETS)
    ),
    "time_to_action": ValueField(
        "time_to_action", "hours", tuple((b["value"], int(b["min_seconds"]) // 3600) for b in TIME_TO_ACTION_BUCKETS)
    ),
}


@dataclasses.dataclass(frozen=True)
class AggregateSpec:
    release: Release
    group_by: tuple[str, ...]  # as requested (the order of the answer's columns and rows)
    dimensions: tuple[dims.Dimension, ...]  # canonical: sorted by name
    node: ql.Node
    fields: dict[str, ql.Field]
    measure: str
    value: ValueField | None
    contribution_bound: int
    epsilon: Decimal | None

    @property
    def cells(self) -> int:
        return math.prod(len(d.keys) for d in self.dimensions)

    def sensitivities(self) -> dict[str, int]:
        """L1 sensitivity of each noisy vector, in units (1/RESOLUTION of a count or of a value)."""
        bound = self.contribution_bound
        if self.measure == "accounts":
            return {"count": min(bound, self.cells) * RESOLUTION}
        if self.measure == "decisions":
            return {"count": bound * RESOLUTION}
        total = {"sum": bound * max(1, self.value.maximum) * RESOLUTION}
        return total if self.measure == "sum" else {**total, "count": bound * RESOLUTION}

    def epsilon_shares(self, epsilon: Decimal) -> dict[str, Decimal]:
        """How ε is split across the noisy vectors (the mean's sum and count get half each)."""
        vectors = list(self.sensitivities())
        if len(vectors) == 1:
            return {vectors[0]: epsilon}
        half = epsilon / 2
        return dict.fromkeys(vectors, half)

    def canonical(self) -> dict:
        """Everything the answer depends on, in one spelling: what repeats are recognised by."""
        return {
            "group_by": sorted(self.group_by),
            "query": ql.normalise(self.node),
            "measure": self.measure,
            "value": self.value.name if self.value else None,
            "contribution_bound": self.contribution_bound,
            "epsilon": str(self.epsilon.quantize(EPSILON_QUANTUM)) if self.epsilon is not None else None,
        }

    def fingerprint(self) -> str:
        extra = {k: v for k, v in self.canonical().items() if k != "query"}
        return ql.query_fingerprint(self.node, extra)


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest("The request is invalid; see detail for each field.", detail={field: [message]})


def build_spec(release: Release, data: dict, *, grant=None) -> AggregateSpec:
    """Validate a request (already shaped by the serializer) against the release; 400 with the offending field.

    A grant with data limits (a DSC grant, docs/dsa-article-40.md) groups and filters only by the fields
    it covers, and counts only the rows within its period.
    """
    if not release.rows_table:
        raise NotFoundError(f"Dataset {release.dataset.slug} has no row-level records to aggregate.")
    group_by = list(data.get("group_by") or [])
    if len(group_by) > MAX_GROUP_BY:
        raise _invalid("group_by", f"Group by at most {MAX_GROUP_BY} fields.")
    if len(set(group_by)) != len(group_by):
        raise _invalid("group_by", "A field appears twice.")
    fields = query_fields(release)
    visible = fields_within(fields, grant)
    allowed = [name for name in dims.groupable_fields(release) if name in visible]
    for name in group_by:
        if name not in allowed:
            known = name in codebook_fields(release)
            reason = "is not a field"
            if known:
                reason = "is not among this grant's fields" if name not in visible else "cannot be grouped by"
            raise _invalid("group_by", f"{name!r} {reason}; groupable fields: {', '.join(allowed)}.")
    dimensions = tuple(dims.dimension(release, name) for name in sorted(group_by))
    if any(not d.keys for d in dimensions):
        raise _invalid("group_by", "This release has no period to group its dates by.")

    # The grant's period in the release's date precision, as for records: a bucket that ends after it
    # holds rows outside it, so none of its rows count.
    precision = precisions(release).get("decided_on", "day")
    node = within_period(
        ql.parse_body_query(data.get("query"), visible), fields, grant, precision, period_end=release.period_end
    )

    measure = data.get("measure") or "decisions"
    value = None
    if measure in ("sum", "mean"):
        name = data.get("value")
        values = [field for field in VALUE_FIELDS if field in visible]
        if name not in values:
            raise _invalid("value", f"A {measure} needs a value field: one of {', '.join(values) or 'none here'}.")
        value = VALUE_FIELDS[name]
    elif data.get("value"):
        raise _invalid("value", f"Only the sum and mean measures take a value field, not {measure}.")

    bound = data.get("contribution_bound") or settings.AGGREGATE_CONTRIBUTION_BOUND
    if not 1 <= bound <= settings.AGGREGATE_MAX_CONTRIBUTION_BOUND:
        raise _invalid("contribution_bound", f"Between 1 and {settings.AGGREGATE_MAX_CONTRIBUTION_BOUND}.")

    spec = AggregateSpec(
        release=release,
        group_by=tuple(group_by),
        dimensions=dimensions,
        node=node,
        fields=fields,
        measure=measure,
        value=value,
        contribution_bound=int(bound),
        epsilon=data.get("epsilon"),
    )
    if spec.cells > settings.AGGREGATE_MAX_CELLS:
        sizes = json.dumps({d.name: len(d.keys) for d in dimensions})
        raise _invalid(
            "group_by",
            f"These fields make {spec.cells} groups ({sizes} keys), more than the limit of "
            f"{settings.AGGREGATE_MAX_CELLS}; group by fewer or smaller fields.",
        )
    return spec
