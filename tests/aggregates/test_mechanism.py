"""The noise (docs/aggregates.md): OpenDP certifies every ε charged, the noise has the declared scale, and
ci95 covers the true count 95% of the time.

Statistical tests draw many answers through the mechanism functions the endpoint uses (not through
HTTP); tolerances are several standard errors wide, so they fail on a wrong scale, not on bad luck.
"""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import pytest

from moderation_data.aggregates import mechanism
from moderation_data.aggregates.compute import bounded_vectors
from moderation_data.aggregates.services import answer_rows, noisy_answer
from moderation_data.aggregates.spec import build_spec
from moderation_data.aggregates.table import ensure_aggregation_table

R = mechanism.RESOLUTION


@pytest.mark.parametrize("sensitivity", [1, 5 * R, 20 * R, 1000 * R, 12 * 10001 * R])
@pytest.mark.parametrize("epsilon", ["0.000001", "0.1", "0.25", "0.333333", "1", "5"])
def test_every_scale_is_certified_by_opendps_privacy_map_for_the_epsilon_charged(sensitivity, epsilon):
    charged = Decimal(epsilon)
    scale = mechanism.calibrate(sensitivity=sensitivity, epsilon=charged)
    assert Decimal(mechanism.privacy_loss(sensitivity=sensitivity, scale=scale)) <= charged
    # ...and no wider than needed: the noise is the least that certifies ε.
    assert scale <= sensitivity / float(charged) * (1 + 1e-9)


def test_empirical_noise_variance_matches_the_declared_scale():
    draws = 40_000
    # A default answer: bound 20 decisions, ε = 0.5, so b = 40 decisions.
    noisy, scale = mechanism.add_noise([7 * R] * draws, sensitivity=20 * R, epsilon=Decimal("0.5"))
    assert scale / R == pytest.approx(40.0)
    errors = [(value - 7 * R) / R for value in noisy]
    declared = mechanism.variance(scale) / R**2  # 2b² for Laplace noise: 3200 decisions²
    assert declared == pytest.approx(2 * 40.0**2, rel=1e-6)
    # Laplace has kurtosis 6: the variance estimate's relative standard error is sqrt(5/n) ≈ 1.1%.
    assert statistics.pvariance(errors) / declared == pytest.approx(1.0, abs=0.05)
    assert abs(statistics.fmean(errors)) < 5 * math.sqrt(declared / draws)
    expected_abs = mechanism.expected_absolute_error(scale) / R
    assert statistics.fmean(abs(e) for e in errors) / expected_abs == pytest.approx(1.0, abs=0.04)


@pytest.mark.parametrize("scale", [0.5, 3.0, 40.0 * R, 123.456 * R])
def test_the_interval_half_width_is_the_smallest_covering_95_percent(scale):
    t = mechanism.half_width(scale)
    assert mechanism.tail(t, scale) <= 0.05
    assert t == 0 or mechanism.tail(t - 1, scale) > 0.05


def test_a_target_interval_width_maps_back_to_the_scale_that_achieves_it():
    for target in (10 * R, 120 * R, 5000 * R):
        scale = mechanism.scale_for_half_width(target)
        assert mechanism.half_width(scale) <= target < mechanism.half_width(scale * (1 + 1e-6))


@pytest.mark.django_db
def test_ci95_covers_the_true_count_95_percent_of_the_time(release):
    # The endpoint's own path from exact counts to answered rows, repeated on a small fixture.
    spec = build_spec(release, {"group_by": ["policy"], "epsilon": Decimal("0.5")})
    exact = bounded_vectors(spec, table=ensure_aggregation_table(release))
    truth = [units / R for units in exact["count"]]
    assert sum(truth) > 100  # a real fixture, not a vector of zeros
    covered = answered = 0
    errors = []
    for _ in range(1500):
        for row, true in zip(answer_rows(noisy_answer(spec, exact), spec.group_by), truth, strict=True):
            low, high = row["ci95"]
            covered += low <= true <= high
            answered += 1
            errors.append(row["count"] - true)
    # 18,000 intervals: the coverage estimate's standard error is 0.16%.
    assert 0.93 <= covered / answered <= 0.97
    assert abs(statistics.fmean(errors)) < 2.0  # unbiased (b = 40; standard error of the mean ≈ 0.4)


@pytest.mark.django_db
def test_every_answered_row_declares_the_scale_its_noise_was_drawn_with(release):
    spec = build_spec(release, {"group_by": ["appealed"], "epsilon": Decimal("0.25"), "contribution_bound": 5})
    answer = noisy_answer(spec, bounded_vectors(spec, table=ensure_aggregation_table(release)))
    rows = answer_rows(answer, spec.group_by)
    assert [row["noise_scale"] for row in rows] == pytest.approx([20.0] * len(rows))  # 5 / 0.25
    assert answer["mechanism"]["library"] == f"OpenDP {mechanism.opendp_version()}"
    assert answer["mechanism"]["sensitivity"] == {"count": 5.0}
    half = answer["mechanism"]["ci95_half_width"]["count"]
    assert half == pytest.approx(20.0 * math.log(20), rel=1e-3)  # continuous Laplace: b·ln(1/0.05)
