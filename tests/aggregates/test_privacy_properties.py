"""Account-level privacy, replayed as attacks (docs/aggregates.md): contribution bounding and differencing.

Neighbouring datasets are built for real: a copy of the shared release's rows with one extra account
of 10,000 decisions, turned into an aggregation table by the same code as a release's
(``create_aggregation_table``), and counted by the same SQL as the endpoint (``bounded_vectors``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db import connection

from moderation_data.aggregates import mechanism
from moderation_data.aggregates.compute import bounded_vectors, cell_keys
from moderation_data.aggregates.dimensions import groupable_fields
from moderation_data.aggregates.spec import build_spec
from moderation_data.aggregates.table import create_aggregation_table, ensure_aggregation_table
from moderation_data.releases.selectors import codebook_fields

R = mechanism.RESOLUTION
TARGET_DECISIONS = 10_000
pytestmark = pytest.mark.django_db


def _with_prolific_account(release, name: str) -> str:
    """An aggregation table of the release's rows plus one account with 10,000 decisions across many groups."""
    columns = ["row_id", *(entry["column"] for entry in codebook_fields(release).values())]
    select = []
    for column in columns:
        if column == "row_id":
            select.append(f"(SELECT max(row_id) FROM {release.rows_table}) + g")
        elif column == "account_id":
            select.append("'target-account'")
        elif column == "decision_id":
            select.append("md5('target' || g)")
        else:
            select.append(f"r.{column}")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {name}_rows AS SELECT * FROM {release.rows_table}")
        cursor.execute(
            f"""INSERT INTO {name}_rows SELECT {", ".join(select)}
                  FROM generate_series(1, %s) g
                  JOIN {release.rows_table} r ON r.row_id = 1 + g %% (SELECT count(*) FROM {release.rows_table})""",
            [TARGET_DECISIONS],
        )
    create_aggregation_table(release=release, source_table=f"{name}_rows", name=name)
    return name


REQUESTS = [
    {"group_by": ["policy", "detection_source"]},
    # (A filter on a field the release keeps: one withheld for k-anonymity, null in every row, matches nothing.)
    {"group_by": ["country"], "query": {"and": [{"operation": "EQ", "field_name": "appealed",
                                                  "field_values": [False]}]}},
    {"group_by": ["views_before_action", "appealed", "decided_on"]},
    {"group_by": []},
    {"group_by": ["policy"], "query": {"not": [{"operation": "EQ", "field_name": "policy",
                                                "field_values": ["other"]}]}, "contribution_bound": 3},
]  # fmt: skip


@pytest.mark.parametrize("request_body", REQUESTS)
def test_an_account_with_10000_decisions_changes_any_count_by_at_most_the_bound(release, request_body):
    with_target = _with_prolific_account(release, "agg_with_target")
    spec = build_spec(release, {**request_body, "epsilon": Decimal("0.5")})
    bound = spec.contribution_bound
    before = bounded_vectors(spec, table=ensure_aggregation_table(release))["count"]
    after = bounded_vectors(spec, table=with_target)["count"]
    changes = [b - a for a, b in zip(before, after, strict=True)]
    assert all(change >= 0 for change in changes)
    assert max(changes) <= bound * R and sum(changes) <= bound * R  # L1 sensitivity: the bound
    assert sum(changes) > 0.9 * bound * R  # the account does count, up to its bound
    # Counted without the bound, the same account would move the total by 10,000 matching decisions.
    unbounded = build_spec(release, {**request_body, "epsilon": Decimal("0.5"), "contribution_bound": 1000})
    grown = sum(bounded_vectors(unbounded, table=with_target)["count"]) - sum(
        bounded_vectors(unbounded, table=ensure_aggregation_table(release))["count"]
    )
    assert grown > 1000 * R * 0.99  # capped at 1000 there, and far beyond any bound a query uses by default


def test_an_account_in_every_group_changes_account_counts_by_at_most_the_bound(release):
    with_target = _with_prolific_account(release, "agg_with_target_accounts")
    for bound in (1, 4, 1000):
        spec = build_spec(release, {"group_by": ["policy"], "measure": "accounts", "epsilon": Decimal("1"),
                                    "contribution_bound": bound})  # fmt: skip
        before = bounded_vectors(spec, table=ensure_aggregation_table(release))["count"]
        after = bounded_vectors(spec, table=with_target)["count"]
        changes = [b - a for a, b in zip(before, after, strict=True)]
        limit = min(bound, spec.cells) * R
        assert all(0 <= change <= R for change in changes) and sum(changes) <= limit
        assert spec.sensitivities() == {"count": limit}


def test_a_sum_of_views_moves_by_at_most_the_bound_times_the_largest_bucket(release):
    with_target = _with_prolific_account(release, "agg_with_target_sum")
    spec = build_spec(release, {"group_by": ["policy"], "measure": "sum", "value": "views_before_action",
                                "epsilon": Decimal("1")})  # fmt: skip
    before = bounded_vectors(spec, table=ensure_aggregation_table(release))["sum"]
    after = bounded_vectors(spec, table=with_target)["sum"]
    assert sum(b - a for a, b in zip(before, after, strict=True)) <= spec.contribution_bound * 10001 * R
    assert spec.sensitivities() == {"sum": spec.contribution_bound * 10001 * R}


def _advantage(first: list[int], second: list[int]) -> tuple[float, float]:
    """The best threshold test's advantage |P(X ≥ τ) - P(Y ≥ τ)|, and the largest likelihood ratio of the events
    {X ≥ τ} and {X < τ} (what ε-DP bounds by e^ε) among those of probability ≥ 20% on both sides, where 40,000
    trials estimate the ratio within about 2% (its standard error)."""
    n = len(first)
    counts_a, counts_b = Counter(first), Counter(second)
    above_a = above_b = 0
    advantage, ratio = 0.0, 0.0
    for value in sorted(set(first) | set(second), reverse=True):
        above_a += counts_a[value]
        above_b += counts_b[value]
        p, q = above_a / n, above_b / n
        advantage = max(advantage, abs(p - q))
        if min(p, q, 1 - p, 1 - q) >= 0.2:
            ratio = max(ratio, p / q, q / p, (1 - p) / (1 - q), (1 - q) / (1 - p))
    return advantage, ratio


def test_a_differencing_attack_does_not_beat_the_epsilon_bound(release):
    """All accounts vs all but one, 40,000 trials each: the best threshold attack on the total stays within the
    advantage ε-DP allows, (e^ε - 1) / (e^ε + 1); without contribution bounding the same attack always wins."""
    with_target = _with_prolific_account(release, "agg_differencing")
    epsilon, trials = Decimal("0.5"), 40_000
    spec = build_spec(release, {"group_by": [], "epsilon": epsilon})
    without_total = bounded_vectors(spec, table=ensure_aggregation_table(release))["count"][0]
    with_total = bounded_vectors(spec, table=with_target)["count"][0]
    assert with_total - without_total == spec.contribution_bound * R  # the target at its full bound

    sensitivity = spec.sensitivities()["count"]
    answers_with, _ = mechanism.add_noise([with_total] * trials, sensitivity=sensitivity, epsilon=epsilon)
    answers_without, _ = mechanism.add_noise([without_total] * trials, sensitivity=sensitivity, epsilon=epsilon)
    advantage, ratio = _advantage(answers_with, answers_without)
    e = math.exp(float(epsilon))
    allowed = (e - 1) / (e + 1)  # 0.245 for ε = 0.5; the true advantage here is 1 - e^(-ε/2) = 0.221
    assert advantage <= allowed + 0.01  # the empirical maximum's standard error is ≈ 0.003
    assert ratio <= e * 1.1  # the ratio is exactly e^ε in the tails: the attack gets what ε allows, no more

    # The same attack where the target's 10,000 decisions were not bounded: noise for 20 cannot hide them.
    raw_with, _ = mechanism.add_noise([without_total + TARGET_DECISIONS * R] * 2000, sensitivity=sensitivity,
                                      epsilon=epsilon)  # fmt: skip
    raw_without, _ = mechanism.add_noise([without_total] * 2000, sensitivity=sensitivity, epsilon=epsilon)
    assert _advantage(raw_with, raw_without)[0] > 0.99


@pytest.mark.parametrize("field", ["policy", "country", "content_language", "decided_on", "appeal_outcome",
                                   "views_before_action", "reinstated", "time_to_action"])  # fmt: skip
def test_every_row_is_counted_in_exactly_one_group_and_every_key_is_answered(release, field):
    assert field in groupable_fields(release)
    spec = build_spec(release, {"group_by": [field], "epsilon": Decimal("1"), "contribution_bound": 1000})
    counts = bounded_vectors(spec, table=ensure_aggregation_table(release))["count"]
    assert sum(counts) == release.row_count * R  # nothing dropped (no account here has 1000 decisions)
    assert len(counts) == len(cell_keys(spec.dimensions)) == spec.cells


def test_the_answers_keys_come_from_the_codebook_not_the_data(release):
    nothing = {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]},
                       {"operation": "EQ", "field_name": "policy", "field_values": ["other"]}]}  # fmt: skip
    empty = build_spec(release, {"group_by": ["country", "policy"], "query": nothing, "epsilon": Decimal("1")})
    full = build_spec(release, {"group_by": ["country", "policy"], "epsilon": Decimal("1")})
    assert bounded_vectors(empty, table=ensure_aggregation_table(release))["count"] == [0] * empty.cells
    assert cell_keys(empty.dimensions) == cell_keys(full.dimensions)
    assert ("NON_EEA", "other") in cell_keys(full.dimensions) and (None, "other") in cell_keys(full.dimensions)


def _python_bounded(release, spec, units_of) -> dict[tuple, float]:
    """A straightforward reimplementation of the bounding on the release's rows, in Python."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(account_id, 'decision:' || decision_id), policy, detection_source, country"
            f" FROM {release.rows_table}"
        )
        rows = cursor.fetchall()
    return units_of(rows, spec.contribution_bound)


def test_the_sql_bounding_matches_a_plain_python_reimplementation(release):
    query = {"and": [{"operation": "IN", "field_name": "detection_source",
                      "field_values": ["automated_classifier", "hash_match", "user_report"]}]}  # fmt: skip
    spec = build_spec(release, {"group_by": ["policy"], "query": query, "epsilon": Decimal("1"),
                                "contribution_bound": 3})  # fmt: skip

    def decisions(rows, bound):
        matching = defaultdict(list)
        for unit, policy, source, _ in rows:
            if source in ("automated_classifier", "hash_match", "user_report"):
                matching[unit].append(policy)
        totals: dict[tuple, int] = defaultdict(int)
        for policies in matching.values():
            weight = bound * R // max(len(policies), bound)
            for policy in policies:
                totals[(policy,)] += weight
        return totals

    expected = _python_bounded(release, spec, decisions)
    counts = bounded_vectors(spec, table=ensure_aggregation_table(release))["count"]
    assert dict(zip(cell_keys(spec.dimensions), counts, strict=True)) == {
        key: expected.get(key, 0) for key in cell_keys(spec.dimensions)
    }

    accounts_spec = build_spec(release, {"group_by": ["policy"], "measure": "accounts", "epsilon": Decimal("1"),
                                         "contribution_bound": 2})  # fmt: skip

    def accounts(rows, bound):
        cells_of = defaultdict(set)
        for unit, policy, _, _ in rows:
            cells_of[unit].add((policy,))
        totals: dict[tuple, int] = defaultdict(int)
        for cells in cells_of.values():
            for cell in cells:
                totals[cell] += bound * R // max(len(cells), bound)
        return totals

    expected_accounts = _python_bounded(release, accounts_spec, accounts)
    counted = bounded_vectors(accounts_spec, table=ensure_aggregation_table(release))["count"]
    assert dict(zip(cell_keys(accounts_spec.dimensions), counted, strict=True)) == {
        key: expected_accounts.get(key, 0) for key in cell_keys(accounts_spec.dimensions)
    }
