"""The noise: OpenDP's discrete Laplace mechanism on integer vectors, and what its answers mean (docs/aggregates.md).

Counts are computed in PostgreSQL as exact integers in millionths (:data:`RESOLUTION`): an account
whose contribution is capped counts a fraction of each of its decisions (see ``compute``), and
millionths keep that fraction exact without floating point, whose rounding can leak (Mironov 2012).
The vector of counts then gets discrete Laplace noise from OpenDP, with P(noise = k) ∝ exp(-|k|/s).
Its privacy map certifies, for the vector's L1 sensitivity Δ, a loss of at most ε = Δ / s: every
scale we use is checked against that map before any noise is drawn.

Only OpenDP's ``contrib`` feature is enabled: ``make_laplace`` lives there. ``floating-point`` is not
(integers only), nor ``honest-but-curious`` (no user-supplied parameters reach OpenDP unchecked).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

RESOLUTION = 1_000_000
CONFIDENCE = 0.95


@functools.cache
def _opendp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@functools.cache
def opendp_version() -> str:
    return importlib.metadata.version("opendp")


def _measurement(scale: float) -> Any:
    dp = _opendp()
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=scale)


def _as_float_at_most(epsilon: Decimal) -> float:
    """ε as a float never above the decimal ε that is charged."""
    value = float(epsilon)
    return math.nextafter(value, 0.0) if Decimal(value) > epsilon else value


def calibrate(*, sensitivity: int, epsilon: Decimal) -> float:
    """The noise scale (in units) whose OpenDP privacy map certifies at most ``epsilon`` for this L1 sensitivity."""
    if sensitivity < 1 or epsilon <= 0:
        raise ValueError("sensitivity and epsilon must be positive")
    budget = _as_float_at_most(epsilon)
    scale = sensitivity / budget
    for _ in range(100):
        if _measurement(scale).map(sensitivity) <= budget:
            return scale
        scale *= 1 + 1e-12  # the map rounds up conservatively: widen the noise until it certifies ε
    raise RuntimeError(f"no scale certifies epsilon={epsilon} for sensitivity {sensitivity}")


def privacy_loss(*, sensitivity: int, scale: float) -> float:
    """OpenDP's privacy map: the ε a release with this scale costs for this L1 sensitivity."""
    return float(_measurement(scale).map(sensitivity))


def add_noise(values: Sequence[int], *, sensitivity: int, epsilon: Decimal) -> tuple[list[int], float]:
    """The noisy vector and its scale: discrete Laplace noise certified ε-DP for an L1 sensitivity ``sensitivity``."""
    scale = calibrate(sensitivity=sensitivity, epsilon=epsilon)
    if not values:
        return [], scale
    measurement = _measurement(scale)
    assert measurement.map(sensitivity) <= _as_float_at_most(epsilon)
    return [int(v) for v in measurement([int(v) for v in values])], scale


# --- what the noise means ------------------------------------------------------------------------


def tail(t: int, scale: float) -> float:
    """P(|noise| > t) for discrete Laplace with this scale: 2·α^(t+1) / (1 + α), α = exp(-1/scale)."""
    return 2 * math.exp(-(t + 1) / scale) / (1 + math.exp(-1 / scale))


def half_width(scale: float, confidence: float = CONFIDENCE) -> int:
    """The smallest t with P(|noise| <= t) >= confidence: the half-width of the interval, in units."""
    miss = 1 - confidence
    alpha = math.exp(-1 / scale)
    t = max(0, math.ceil(math.log(miss * (1 + alpha) / 2) * -scale) - 1)
    while tail(t, scale) > miss:
        t += 1
    while t > 0 and tail(t - 1, scale) <= miss:
        t -= 1
    return t


def variance(scale: float) -> float:
    """Var(noise) = 2α / (1 - α)², in units²."""
    alpha = math.exp(-1 / scale)
    return 2 * alpha / (1 - alpha) ** 2


def expected_absolute_error(scale: float) -> float:
    """E|noise| = 2α / (1 - α²), in units."""
    alpha = math.exp(-1 / scale)
    return 2 * alpha / (1 - alpha**2)


def scale_for_half_width(target: float) -> float:
    """The largest scale (units) whose ci95 half-width is at most ``target`` units (0 if none)."""
    if target < 1:
        return 0.0
    low, high = 1e-9, max(1.0, target)  # half_width(target) > target/3 for any scale, so this brackets it
    while half_width(high) <= target:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if half_width(middle) <= target:
            low = middle
        else:
            high = middle
    return low


@dataclasses.dataclass(frozen=True)
class Interval:
    low: int
    high: int


def count_interval(noisy_units: int, t_units: int, *, nonnegative: bool = True) -> Interval:
    """ci95 of a count in whole counts: outward-rounded, and never below zero (no count is negative)."""
    low = math.floor((noisy_units - t_units) / RESOLUTION)
    high = math.ceil((noisy_units + t_units) / RESOLUTION)
    return Interval(max(0, low) if nonnegative else low, max(0, high) if nonnegative else high)


def to_count(units: int) -> int:
    """A noisy value in units as a whole count (round half to even: post-processing, no privacy cost)."""
    return round(Decimal(units) / RESOLUTION)
