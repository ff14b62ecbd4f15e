"""The privacy report's trajectory-unicity figure against a brute-force count of the same attack.

The adversary knows a target account's country and the week and policy of two of its decisions;
the target is singled out when no other account's released rows match both. The report computes
this with index probes (``anonymize._trajectory_unicity``); here every account is tried against
every other in Python, on small worlds where many targets are singled out and many are not.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection

from moderation_data.releases import anonymize

pytestmark = pytest.mark.django_db

START = dt.date(2025, 1, 1)
POLICIES = ("violent_extremism", "hate_speech", "spam")
COUNTRIES = ("DE", "FR", "LT")


def _bucket(day: dt.date, level: int) -> str:
    unit = anonymize.DATE_LEVELS[level]
    if unit == "day":
        return day.isoformat()
    if unit == "week":
        start = day - dt.timedelta(days=day.weekday())
    elif unit == "month":
        start = day.replace(day=1)
    elif unit == "quarter":
        start = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    else:
        start = day.replace(month=1, day=1)
    return max(start, START).isoformat()


def _world(seed: int, accounts: int, rows: int, level: int) -> list[tuple]:
    """(raw_pk, acct, day, policy, country, released bucket) rows, loaded into the report's tables."""
    rng = random.Random(seed)
    world = []
    for raw_pk in range(1, rows + 1):
        acct = rng.randrange(accounts)
        day = START + dt.timedelta(days=rng.randrange(60))
        policy, country = rng.choice(POLICIES), rng.choice(COUNTRIES[: 1 + acct % 3])
        world.append((raw_pk, acct, day, policy, country, _bucket(day, level)))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE rb_src (raw_pk bigint, day date, q_policy text, q_country text)")
        cursor.execute(
            "CREATE TEMP TABLE rb_assign (raw_pk bigint, acct bigint, q_decided_on text, q_policy text, q_country text)"
        )
        cursor.execute("CREATE TEMP TABLE rb_map (field text, level int, raw text, out text)")
        cursor.executemany("INSERT INTO rb_src VALUES (%s, %s, %s, %s)", [(r[0], r[2], r[3], r[4]) for r in world])
        cursor.executemany(
            "INSERT INTO rb_assign VALUES (%s, %s, %s, %s, %s)", [(r[0], r[1], r[5], r[3], r[4]) for r in world]
        )
        cursor.executemany(
            "INSERT INTO rb_map VALUES (%s, %s, %s, %s)",
            [("policy", 0, p, p) for p in POLICIES] + [("country", 0, c, c) for c in COUNTRIES],
        )
    return world


def _brute_force(world: list[tuple], level: int) -> tuple[int, int]:
    """(singled out, sampled): every target with two decisions against every account's released rows."""
    released: dict[int, set[tuple]] = {}
    decisions: dict[int, list[tuple]] = {}
    for raw_pk, acct, day, policy, country, bucket in world:
        released.setdefault(acct, set()).add((bucket, policy, country))
        decisions.setdefault(acct, []).append((raw_pk, day, policy, country))
    singled = sampled = 0
    for known in decisions.values():
        if len(known) < 2:
            continue
        probes = []
        for _, day, policy, country in sorted(known)[:2]:
            monday = day - dt.timedelta(days=day.weekday())
            probes.append({(_bucket(monday + dt.timedelta(days=d), level), policy, country) for d in range(7)})
        candidates = [acct for acct, keys in released.items() if keys & probes[0] and keys & probes[1]]
        sampled += 1
        singled += len(candidates) == 1
    return singled, sampled


@pytest.mark.parametrize(("seed", "level"), [(1, 0), (2, 0), (3, 1), (4, 2)])
def test_trajectory_unicity_equals_a_brute_force_attack(seed, level):
    world = _world(seed, accounts=80, rows=400, level=level)
    levels = {"decided_on": level, "policy": 0}
    ctx = anonymize.Context(period_start=START, period_end=START + dt.timedelta(days=59))
    with connection.cursor() as cursor:
        found = anonymize._trajectory_unicity(cursor, ctx, levels)
    singled, sampled = _brute_force(world, level)
    assert sampled <= anonymize.TRAJECTORY_SAMPLE
    assert (found["singled_out"], found["sampled_accounts"]) == (singled, sampled)
    if level == 0:
        assert singled > 0  # day precision singles targets out: the measure sees it


def test_a_unique_trajectory_is_singled_out_and_a_shared_one_is_not():
    # Account 1 and 2 share both known decisions' week, policy and country; account 3 is alone.
    world = [
        (1, 1, dt.date(2025, 1, 6), "spam", "DE", "2025-01-06"),
        (2, 1, dt.date(2025, 1, 14), "spam", "DE", "2025-01-13"),
        (3, 2, dt.date(2025, 1, 7), "spam", "DE", "2025-01-06"),
        (4, 2, dt.date(2025, 1, 15), "spam", "DE", "2025-01-13"),
        (5, 3, dt.date(2025, 1, 7), "hate_speech", "FR", "2025-01-06"),
        (6, 3, dt.date(2025, 1, 20), "hate_speech", "FR", "2025-01-20"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE rb_src (raw_pk bigint, day date, q_policy text, q_country text)")
        cursor.execute(
            "CREATE TEMP TABLE rb_assign (raw_pk bigint, acct bigint, q_decided_on text, q_policy text, q_country text)"
        )
        cursor.execute("CREATE TEMP TABLE rb_map (field text, level int, raw text, out text)")
        cursor.executemany("INSERT INTO rb_src VALUES (%s, %s, %s, %s)", [(r[0], r[2], r[3], r[4]) for r in world])
        cursor.executemany(
            "INSERT INTO rb_assign VALUES (%s, %s, %s, %s, %s)", [(r[0], r[1], r[5], r[3], r[4]) for r in world]
        )
        cursor.executemany(
            "INSERT INTO rb_map VALUES (%s, %s, %s, %s)",
            [("policy", 0, p, p) for p in POLICIES] + [("country", 0, c, c) for c in COUNTRIES],
        )
        ctx = anonymize.Context(period_start=START, period_end=dt.date(2025, 1, 31))
        found = anonymize._trajectory_unicity(cursor, ctx, {"decided_on": 1, "policy": 0})
    assert (found["singled_out"], found["sampled_accounts"]) == (1, 3)
