"""Every state change of aggregates: answering (and charging) a query, and setting budgets (docs/aggregates.md).

The ledger never overspends: a new answer is charged inside one transaction that locks the release's
cap and then the project's budget (always in that order, so concurrent charges queue instead of
deadlocking), checks both, records the answer and adds its ε; only then does the answer leave. A
repeat of the same canonical request, from any client of the same project, gets the stored answer
and costs nothing, so repeating a query to average its noise away gains nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F

from moderation_data.aggregates import mechanism
from moderation_data.aggregates.compute import bounded_vectors
from moderation_data.aggregates.models import AggregateAnswer, ProjectBudget, ReleaseBudget
from moderation_data.aggregates.selectors import BudgetStatus, budget_status, cached_answer, public_epsilon
from moderation_data.aggregates.spec import EPSILON_QUANTUM, AggregateSpec
from moderation_data.aggregates.table import ensure_aggregation_table
from moderation_data.releases.models import Release
from platform_api.errors import InvalidRequest, PrivacyBudgetExhausted


@dataclasses.dataclass(frozen=True)
class AggregateResult:
    answer: AggregateAnswer
    epsilon_spent: Decimal  # 0 for a repeat
    cached: bool
    budget: BudgetStatus


def _exhausted(status: BudgetStatus, epsilon: Decimal) -> PrivacyBudgetExhausted:
    project_binds = status.project_remaining <= status.release_remaining
    which = "your project's budget" if project_binds else "the release's global cap (shared by all projects)"
    spent, total = (
        (status.project_spent, status.project_total)
        if project_binds
        else (status.release_spent + status.public_epsilon, status.release_total)
    )
    return PrivacyBudgetExhausted(
        f"This query needs ε={epsilon} but {which} has ε={min(status.remaining, total - spent)} left "
        f"(ε={spent} of {total} spent) on release {status.release.version}. A repeat of a query you already "
        "ran costs nothing; ask the data steward for more budget, or use a smaller ε.",
        detail={
            "epsilon_requested": float(epsilon),
            "spent": float(spent),
            "total": float(total),
            "remaining": float(status.remaining),
            "project": {"spent": float(status.project_spent), "total": float(status.project_total)},
            "release_cap": {
                "spent": float(status.release_spent + status.public_epsilon),
                "total": float(status.release_total),
            },
            "release": status.release.version,
        },
    )


def noisy_answer(spec: AggregateSpec, exact: dict[str, list[int]]) -> dict:
    """Noise every vector of the answer with its share of ε; the answer as stored (compact, JSON-ready).

    It holds the noisy vectors (in units, cells in the order of the domains' cross product), the domains
    and the scales: everything :func:`answer_rows` needs to show it, the same way every time.
    """
    sensitivities, shares = spec.sensitivities(), spec.epsilon_shares(spec.epsilon)
    noisy, scales = {}, {}
    for vector, sensitivity in sensitivities.items():
        noisy[vector], scales[vector] = mechanism.add_noise(
            exact[vector], sensitivity=sensitivity, epsilon=shares[vector]
        )
    confidence = 0.975 if spec.measure == "mean" else mechanism.CONFIDENCE
    return {
        "measure": spec.measure,
        "dimensions": [d.name for d in spec.dimensions],
        "domains": [list(d.keys) for d in spec.dimensions],
        "vectors": noisy,
        "scales": scales,
        "value_maximum": spec.value.maximum if spec.value else None,
        "mechanism": {
            "name": "discrete Laplace",
            "library": f"OpenDP {mechanism.opendp_version()}",
            "privacy_unit": "account",
            "contribution_bound": spec.contribution_bound,
            "sensitivity": {v: s / mechanism.RESOLUTION for v, s in sensitivities.items()},
            "epsilon": {v: float(e) for v, e in shares.items()},
            "noise_scale": {v: s / mechanism.RESOLUTION for v, s in scales.items()},
            "ci95_half_width": {
                v: mechanism.half_width(s, confidence) / mechanism.RESOLUTION for v, s in scales.items()
            },
            "value": (
                {
                    "field": spec.value.name,
                    "unit": spec.value.unit,
                    "counted_as": "the bucket's lower bound",
                    "rows_without_value": "left out",
                }
                if spec.value
                else None
            ),
        },
    }


def answer_rows(answer: dict, group_by: Sequence[str]) -> list[dict]:
    """A stored answer's rows: the groups of ``group_by`` (any order of its dimensions) in domain order, each with
    its noisy figure, noise scale and ci95; every group of the domains, zero or not."""
    names, domains = answer["dimensions"], answer["domains"]
    sizes = [len(domain) for domain in domains]
    order = [names.index(name) for name in group_by]
    strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
    figures = _figures(answer)
    rows = []
    for positions in itertools.product(*(range(sizes[i]) for i in order)):
        cell = sum(strides[i] * p for i, p in zip(order, positions, strict=True))
        rows.append({**{names[i]: domains[i][p] for i, p in zip(order, positions, strict=True)}, **figures(cell)})
    return rows


def _figures(answer: dict):
    vectors, scales = answer["vectors"], answer["scales"]
    if answer["measure"] != "mean":
        vector = "sum" if answer["measure"] == "sum" else "count"
        noisy, scale = vectors[vector], scales[vector]
        t, shown_scale = mechanism.half_width(scale), scale / mechanism.RESOLUTION

        def figures(cell: int) -> dict:
            interval = mechanism.count_interval(noisy[cell], t)
            return {vector: mechanism.to_count(noisy[cell]), "noise_scale": shown_scale,
                    "ci95": [interval.low, interval.high]}  # fmt: skip

        return figures
    # Each part has a 97.5% interval: by the union bound the ratio's interval covers at least 95%.
    t_sum = mechanism.half_width(scales["sum"], 0.975)
    t_count = mechanism.half_width(scales["count"], 0.975)
    top = float(answer["value_maximum"])

    def mean_figures(cell: int) -> dict:
        total, count = vectors["sum"][cell], vectors["count"][cell]
        mean = min(max(total / count, 0.0), top) if count > 0 else None
        high_count, low_count = count + t_count, count - t_count
        low = max(0, total - t_sum) / high_count if high_count > 0 else 0.0
        high = max(0, total + t_sum) / low_count if low_count > 0 else top
        return {
            "mean": None if mean is None else round(mean, 4),
            "sum": mechanism.to_count(total),
            "count": mechanism.to_count(count),
            "noise_scale": scales["sum"] / mechanism.RESOLUTION,
            "count_noise_scale": scales["count"] / mechanism.RESOLUTION,
            "ci95": [round(min(max(low, 0.0), top), 4), round(min(max(high, 0.0), top), 4)],
        }

    return mean_figures


def _ensure_budget_rows(release: Release, project_id: int) -> None:
    ReleaseBudget.objects.bulk_create(
        [ReleaseBudget(release=release, total_epsilon=settings.AGGREGATE_RELEASE_EPSILON)], ignore_conflicts=True
    )
    ProjectBudget.objects.bulk_create(
        [ProjectBudget(release=release, project_id=project_id, total_epsilon=settings.AGGREGATE_PROJECT_EPSILON)],
        ignore_conflicts=True,
    )


def answer_aggregate(*, grant, release: Release, spec: AggregateSpec) -> AggregateResult:
    """Answer a differentially private aggregate; a new answer is charged atomically before it is returned,
    a repeat of the same canonical request is returned free, and a charge that would overspend is refused."""
    if spec.epsilon is None or spec.epsilon <= 0:
        raise InvalidRequest("The request is invalid; see detail for each field.", detail={"epsilon": ["Required."]})
    project_id = grant.application_id
    epsilon = spec.epsilon.quantize(EPSILON_QUANTUM)
    fingerprint = spec.fingerprint()
    found = cached_answer(release, project_id, fingerprint)
    if found is not None:
        return AggregateResult(found, Decimal(0), True, budget_status(release, project_id))
    status = budget_status(release, project_id)
    if status.remaining < epsilon:  # refuse early, before reading any data; re-checked under the locks
        raise _exhausted(status, epsilon)

    exact = bounded_vectors(spec, table=ensure_aggregation_table(release))
    body = noisy_answer(spec, exact)  # drawn before the locks; it leaves only if the charge commits

    with transaction.atomic():
        _ensure_budget_rows(release, project_id)
        cap = ReleaseBudget.objects.select_for_update().get(release=release)
        budget = ProjectBudget.objects.select_for_update().get(release=release, project_id=project_id)
        found = cached_answer(release, project_id, fingerprint)
        if found is not None:  # the same query was answered (and paid) while we computed: ours is discarded
            return AggregateResult(found, Decimal(0), True, budget_status(release, project_id))
        status = BudgetStatus(
            release=release,
            project_total=budget.total_epsilon,
            project_spent=budget.spent_epsilon,
            release_total=cap.total_epsilon,
            release_spent=cap.spent_epsilon,
            public_epsilon=public_epsilon(release),
        )
        if status.remaining < epsilon:
            raise _exhausted(status, epsilon)
        answer = AggregateAnswer.objects.create(
            release=release,
            project_id=project_id,
            grant=grant,
            fingerprint=fingerprint,
            request=spec.canonical(),
            epsilon=epsilon,
            answer=body,
        )
        ReleaseBudget.objects.filter(pk=cap.pk).update(spent_epsilon=F("spent_epsilon") + epsilon)
        ProjectBudget.objects.filter(pk=budget.pk).update(spent_epsilon=F("spent_epsilon") + epsilon)
    return AggregateResult(answer, epsilon, False, budget_status(release, project_id))


def _epsilon_for_width(spec: AggregateSpec, width: float) -> Decimal:
    """The smallest ε (rounded up to 6 decimals) whose ci95 is at most ``width`` wide in every cell."""
    if spec.measure == "mean":
        raise InvalidRequest(
            "The request is invalid; see detail for each field.",
            detail={"ci95_width": ["A mean's interval depends on the data; give epsilon instead."]},
        )
    vector = "sum" if spec.measure == "sum" else "count"
    scale = mechanism.scale_for_half_width(width / 2 * mechanism.RESOLUTION)
    if scale <= 0:
        raise InvalidRequest(
            "The request is invalid; see detail for each field.",
            detail={"ci95_width": ["Too narrow: no noise scale gives an interval that tight."]},
        )
    epsilon = (Decimal(spec.sensitivities()[vector]) / Decimal(scale)).quantize(EPSILON_QUANTUM, ROUND_CEILING)
    return max(epsilon, EPSILON_QUANTUM)


def estimate_aggregate(*, grant, release: Release, spec: AggregateSpec, ci95_width: float | None = None) -> dict:
    """What an aggregate would cost and how noisy it would be; reads no data and spends nothing."""
    epsilon = spec.epsilon if ci95_width is None else _epsilon_for_width(spec, ci95_width)
    spec = dataclasses.replace(spec, epsilon=epsilon.quantize(EPSILON_QUANTUM))
    status = budget_status(release, grant.application_id)
    repeat = cached_answer(release, grant.application_id, spec.fingerprint()) is not None
    shares, vectors = spec.epsilon_shares(spec.epsilon), {}
    confidence = 0.975 if spec.measure == "mean" else mechanism.CONFIDENCE
    for vector, sensitivity in spec.sensitivities().items():
        scale = mechanism.calibrate(sensitivity=sensitivity, epsilon=shares[vector])
        half = mechanism.half_width(scale, confidence) / mechanism.RESOLUTION
        vectors[vector] = {
            "epsilon": float(shares[vector]),
            "sensitivity": sensitivity / mechanism.RESOLUTION,
            "noise_scale": scale / mechanism.RESOLUTION,
            "standard_deviation": math.sqrt(mechanism.variance(scale)) / mechanism.RESOLUTION,
            "expected_absolute_error": mechanism.expected_absolute_error(scale) / mechanism.RESOLUTION,
            "ci95_half_width": half,
            "ci95_width": 2 * half,
        }
    cost = Decimal(0) if repeat else spec.epsilon
    main = vectors["sum" if spec.measure in ("sum", "mean") else "count"]
    return {
        "release": release.version,
        "epsilon": spec.epsilon,
        "epsilon_cost": cost,
        "repeat": repeat,
        "cells": spec.cells,
        "contribution_bound": spec.contribution_bound,
        "noise_scale": main["noise_scale"],
        "ci95_width": main["ci95_width"],
        "expected_absolute_error": main["expected_absolute_error"],
        "vectors": vectors,
        "budget_remaining": status.remaining,
        "affordable": cost <= status.remaining,
        "within_per_query_limit": spec.epsilon <= settings.AGGREGATE_MAX_EPSILON_PER_QUERY,
    }


@transaction.atomic
def set_project_budget(budget: ProjectBudget, *, total_epsilon: Decimal) -> ProjectBudget:
    """Set a project's ε on a release (what it spent stays; a total below it leaves nothing to spend)."""
    budget = ProjectBudget.objects.select_for_update().get(pk=budget.pk)
    budget.total_epsilon = total_epsilon
    budget.save(update_fields=["total_epsilon", "updated_at"])
    return budget


@transaction.atomic
def set_release_cap(cap: ReleaseBudget, *, total_epsilon: Decimal) -> ReleaseBudget:
    """Set the global ε cap of a release across all projects (what was spent stays)."""
    cap = ReleaseBudget.objects.select_for_update().get(pk=cap.pk)
    cap.total_epsilon = total_epsilon
    cap.save(update_fields=["total_epsilon", "updated_at"])
    return cap


@transaction.atomic
def create_project_budget(*, release: Release, project_id: int, total_epsilon: Decimal) -> ProjectBudget:
    """A project's budget on a release, created ahead of its first query (e.g. a larger one, from admin)."""
    _ensure_budget_rows(release, project_id)
    budget = ProjectBudget.objects.select_for_update().get(release=release, project_id=project_id)
    return set_project_budget(budget, total_epsilon=total_epsilon)


@transaction.atomic
def ensure_release_cap(*, release: Release) -> ReleaseBudget:
    """The release's global cap, created with the default (``AGGREGATE_RELEASE_EPSILON``) if it has none yet."""
    ReleaseBudget.objects.bulk_create(
        [ReleaseBudget(release=release, total_epsilon=settings.AGGREGATE_RELEASE_EPSILON)], ignore_conflicts=True
    )
    return ReleaseBudget.objects.get(release=release)
