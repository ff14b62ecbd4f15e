"""Seeded synthetic raw decisions with realistic, skewed distributions (``generate_demo_data``).

Most decisions are automated; violent extremism is a small share, found more often through hash
matches, partner alerts and law-enforcement referrals; a minority is appealed and some of those
reinstated; accounts repeat (a few prolific ones), and countries and languages have a long tail
so that k-anonymity has real work to do. Rows are written as COPY text, so a million rows take
well under a minute; ids are derived from the seed, so re-running with the same seed changes nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import random
import uuid
from collections.abc import Iterator

from django.db import connection, transaction

from moderation_data.catalog import enums
from moderation_data.ingest.parsing import DECISION_COLUMNS

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DAYS = 365

COUNTRIES = {
    "DE": 18, "FR": 14, "IT": 11, "ES": 10, "PL": 8, "NL": 6, "RO": 4, "BE": 3, "SE": 3, "PT": 3, "CZ": 3,
    "GR": 3, "HU": 2.5, "AT": 2.5, "DK": 1.5, "FI": 1.5, "IE": 1.5, "BG": 1.5, "NO": 1, "SK": 1, "HR": 1,
    "LT": 0.6, "SI": 0.5, "LV": 0.4, "EE": 0.3, "CY": 0.3, "LU": 0.2, "MT": 0.15, "IS": 0.05, "LI": 0.02,
    "GB": 1.5, "US": 1, "TR": 0.8, "UA": 0.6, "CH": 0.4, "BR": 0.3, "IN": 0.3, "MA": 0.2, "RS": 0.2, "NG": 0.1,
}  # fmt: skip
NATIONAL_LANGUAGE = {
    "DE": "DE", "AT": "DE", "LI": "DE", "CH": "DE", "FR": "FR", "LU": "FR", "BE": "NL", "IT": "IT", "ES": "ES",
    "PT": "PT", "BR": "PT", "PL": "PL", "NL": "NL", "RO": "RO", "SE": "SV", "CZ": "CS", "GR": "EL", "CY": "EL",
    "HU": "HU", "DK": "DA", "FI": "FI", "IE": "EN", "GB": "EN", "US": "EN", "NG": "EN", "BG": "BG", "SK": "SK",
    "HR": "HR", "LT": "LT", "SI": "SL", "LV": "LV", "EE": "ET", "MT": "MT", "IS": "IS", "NO": "NO", "TR": "TR",
    "UA": "UK", "IN": "HI", "MA": "AR", "RS": "SR",
}  # fmt: skip
POLICIES = {
    "spam_fake_engagement": 28, "adult_nudity_sexual_activity": 14, "harassment_bullying": 12,
    "integrity_authenticity": 9, "hateful_behavior": 8, "illegal_activities_regulated_goods": 8, "minor_safety": 6,
    "violent_graphic_content": 5, "misinformation": 4, "suicide_self_harm": 2.5, "other": 2.3,
    "violent_extremism": 1.2,
}  # fmt: skip
DEFAULT_SOURCES = {
    "automated_classifier": 70, "user_report": 15, "internal_investigation": 5.5, "hash_match": 5,
    "trusted_flagger": 3.5, "partner_alert": 0.5, "law_enforcement_referral": 0.5,
}  # fmt: skip
SOURCES_BY_POLICY = {
    "violent_extremism": {
        "hash_match": 30, "automated_classifier": 25, "partner_alert": 14, "law_enforcement_referral": 9,
        "trusted_flagger": 9, "user_report": 8, "internal_investigation": 5,
    },
    "minor_safety": {
        "hash_match": 25, "automated_classifier": 45, "user_report": 12, "trusted_flagger": 8,
        "law_enforcement_referral": 3, "partner_alert": 3, "internal_investigation": 4,
    },
    "harassment_bullying": {
        "user_report": 45, "automated_classifier": 45, "trusted_flagger": 5, "internal_investigation": 5,
    },
}  # fmt: skip
SOURCE_TYPE = {
    "user_report": "SOURCE_ARTICLE_16", "trusted_flagger": "SOURCE_TRUSTED_FLAGGER",
    "partner_alert": "SOURCE_TYPE_OTHER_NOTIFICATION", "law_enforcement_referral": "SOURCE_TYPE_OTHER_NOTIFICATION",
}  # fmt: skip
# Mean seconds from detection to action, by how the item was found.
SECONDS_TO_ACTION = {
    "automated_classifier": 600, "hash_match": 120, "user_report": 8 * 3600, "trusted_flagger": 4 * 3600,
    "internal_investigation": 3 * 86400, "partner_alert": 12 * 3600, "law_enforcement_referral": 2 * 86400,
}  # fmt: skip
CONTENT_TYPES = {"CONTENT_TYPE_VIDEO": 45, "CONTENT_TYPE_IMAGE": 25, "CONTENT_TYPE_TEXT": 24, "CONTENT_TYPE_AUDIO": 2,
                 "CONTENT_TYPE_SYNTHETIC_MEDIA": 1, "CONTENT_TYPE_OTHER": 3}  # fmt: skip
VISIBILITY = {
    "DECISION_VISIBILITY_CONTENT_REMOVED": 60, "DECISION_VISIBILITY_CONTENT_DEMOTED": 12,
    "DECISION_VISIBILITY_CONTENT_DISABLED": 10, "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED": 8,
    "DECISION_VISIBILITY_CONTENT_LABELLED": 5, "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED": 5,
}  # fmt: skip
EEA = sorted(enums.EUROPEAN_COUNTRY_CODES)
TAIL_LANGUAGES = [code for code in enums.LANGUAGES if code not in set(NATIONAL_LANGUAGE.values())]


class Picker:
    """Weighted choice with one random() and a bisect: fast enough for millions of draws."""

    def __init__(self, weights: dict[str, float]):
        self.values = list(weights)
        total = sum(weights.values())
        self.cumulative = list(itertools.accumulate(w / total for w in weights.values()))

    def __call__(self, rng: random.Random) -> str:
        return self.values[min(bisect.bisect_right(self.cumulative, rng.random()), len(self.values) - 1)]


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join(value) + "}"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def generate_rows(rows: int, seed: int, days: int = DAYS) -> Iterator[tuple[dict, dict | None]]:
    """(decision, appeal or None) pairs, deterministic for a seed."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    country_pick, policy_pick = Picker(COUNTRIES), Picker(POLICIES)
    source_picks = {p: Picker(SOURCES_BY_POLICY.get(p, DEFAULT_SOURCES)) for p in POLICIES}
    content_pick, visibility_pick = Picker(CONTENT_TYPES), Picker(VISIBILITY)
    pool = max(20, rows // 4)
    accounts = []
    for _ in range(pool):
        country = country_pick(rng)
        r = rng.random()
        if r < 0.8:
            language = NATIONAL_LANGUAGE[country]
        elif r < 0.93:
            language = "EN"
        else:  # a long tail: Zipf-like over the other languages
            language = TAIL_LANGUAGES[int(len(TAIL_LANGUAGES) * rng.random() ** 3)]
        account_type = "ACCOUNT_TYPE_BUSINESS" if rng.random() < 0.05 else "ACCOUNT_TYPE_PRIVATE"
        accounts.append((country, language, account_type))
    for i in range(rows):
        # Repeat offenders: a few accounts collect many decisions.
        account_index = int(pool * rng.random() ** 2.5)
        country, language, account_type = accounts[account_index]
        policy = policy_pick(rng)
        source = source_picks[policy](rng)
        automated = source in ("automated_classifier", "hash_match")
        category, keyword = enums.POLICY_TO_DSA[policy]
        day = rng.randrange(days)
        detected_at = START + dt.timedelta(days=day, seconds=rng.randrange(86400))
        actioned_at = detected_at + dt.timedelta(seconds=int(rng.expovariate(1 / SECONDS_TO_ACTION[source])))
        if actioned_at >= START + dt.timedelta(days=days):
            actioned_at = START + dt.timedelta(days=days) - dt.timedelta(seconds=1)
        is_account = rng.random() < (0.2 if policy in ("violent_extremism", "spam_fake_engagement") else 0.04)
        decision_id = f"demo-{seed}-{i:08d}"
        if automated:
            r = rng.random()
            automated_decision = (
                "AUTOMATED_DECISION_FULLY"
                if r < 0.75
                else ("AUTOMATED_DECISION_PARTIALLY" if r < 0.95 else "AUTOMATED_DECISION_NOT_AUTOMATED")
            )
        else:
            automated_decision = (
                "AUTOMATED_DECISION_PARTIALLY" if rng.random() < 0.3 else "AUTOMATED_DECISION_NOT_AUTOMATED"
            )
        illegal = rng.random() < (0.7 if policy == "violent_extremism" else 0.08)
        views = 0 if rng.random() < 0.1 else int(rng.lognormvariate(4, 2.5))
        decision = {
            "platform_decision_id": decision_id,
            "account_id": f"demo-account-{seed}-{account_index:07d}",
            "content_id": None if is_account else f"demo-content-{seed}-{i:08d}",
            "subject_type": "account" if is_account else "content",
            "policy": policy,
            "detection_source": source,
            "detected_at": detected_at,
            "actioned_at": actioned_at,
            "content_created_at": None if is_account else detected_at - dt.timedelta(
                seconds=int(rng.expovariate(1 / (30 * 86400)))),
            "views_before_action": None if is_account else views,
            "uploader_country": country,
            "off_platform_behavior_considered": rng.random() < (0.3 if policy == "violent_extremism" else 0.03),
            "reported_to_law_enforcement": rng.random() < (
                0.15 if policy == "violent_extremism" else 0.1 if policy == "minor_safety" else 0.002),
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "decision_visibility": None if is_account else [visibility_pick(rng)],
            "decision_account": ("DECISION_ACCOUNT_TERMINATED" if rng.random() < 0.6 else "DECISION_ACCOUNT_SUSPENDED")
            if is_account else None,
            "decision_monetary": "DECISION_MONETARY_SUSPENSION" if rng.random() < 0.01 else None,
            "account_type": account_type,
            "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT" if illegal else "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "illegal_content_legal_ground": "Art. 3 Directive (EU) 2017/541" if illegal else None,
            "illegal_content_explanation": "Content unlawful under the cited provision." if illegal else None,
            "incompatible_content_ground": None if illegal else f"Community guidelines: {policy}",
            "incompatible_content_explanation": None if illegal else "The item breaches the platform's rules.",
            "category": category,
            "category_specification": [keyword] if keyword else None,
            "content_type": [content_pick(rng)] if not is_account else ["CONTENT_TYPE_OTHER"],
            "content_type_other": "Account" if is_account else None,
            "content_language": language,
            "content_date": None,
            "territorial_scope": EEA if rng.random() < 0.85 or country not in EEA else [country],
            "application_date": actioned_at,
            "decision_facts": f"Decision {decision_id} taken after review of the reported item.",
            "source_type": SOURCE_TYPE.get(source, "SOURCE_VOLUNTARY"),
            "source_identity": "Demo Trusted Flagger e.V." if source == "trusted_flagger" else None,
            "automated_detection": "Yes" if automated else "No",
            "automated_decision": automated_decision,
            "platform_name": "Demo Platform",
            "platform_uid": decision_id,
            "created_at": actioned_at + dt.timedelta(minutes=rng.randrange(1, 600)),
        }  # fmt: skip
        appeal = None
        if rng.random() < (0.25 if is_account else 0.06):
            submitted = actioned_at + dt.timedelta(hours=rng.randrange(1, 24 * 14))
            if rng.random() < 0.85:
                r = rng.random()
                outcome = "upheld" if r < 0.7 else ("reversed" if r < 0.92 else "modified")
                resolved = submitted + dt.timedelta(hours=rng.randrange(1, 24 * 10))
                reinstated = resolved + dt.timedelta(minutes=rng.randrange(1, 120)) if outcome == "reversed" else None
            else:
                outcome, resolved, reinstated = "pending", None, None
            appeal = {
                "submitted_at": submitted,
                "resolved_at": resolved,
                "outcome": outcome,
                "reinstated_at": reinstated,
            }
        yield decision, appeal


def default_days(rows: int) -> int:
    """Days the demo spans: all of 2025 for large sets, fewer for small ones so days stay populated."""
    return max(28, min(DAYS, rows // 2500))


def _copy_text(rows: int, seed: int, days: int) -> Iterator[tuple[str, str | None]]:
    """COPY lines of the demo set: one per decision, with its appeal's line (or None)."""
    for decision, appeal in generate_rows(rows, seed, days):
        appeal_line = None
        if appeal:
            appeal_line = "\t".join(_copy_value(v) for v in [decision["platform_decision_id"], *appeal.values()])
        yield "\t".join(_copy_value(decision.get(c)) for c in DECISION_COLUMNS), appeal_line


# Small demo sets are made again and again in one process (a release per test module, the demo's reseeds):
# their COPY text is remembered, at most SMALL_SET_CACHE sets of SMALL_SET_ROWS rows (a few MB).
SMALL_SET_ROWS, SMALL_SET_CACHE = 10_000, 8


@functools.lru_cache(maxsize=SMALL_SET_CACHE)
def _small_copy_text(rows: int, seed: int, days: int) -> tuple[tuple[str, str | None], ...]:
    return tuple(_copy_text(rows, seed, days))


def generate_demo_data(*, rows: int, seed: int = 42, days: int | None = None) -> dict:
    """Write ``rows`` synthetic decisions (and their appeals) over ``days`` days from 2025-01-01.

    Idempotent for a given seed: ids derive from it, existing decisions are left as they are.
    """
    days = days or default_days(rows)
    appeal_columns = ["platform_decision_id", "submitted_at", "resolved_at", "outcome", "reinstated_at"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS demo_decisions, demo_appeals")
        cursor.execute(
            f"CREATE TEMP TABLE demo_decisions ON COMMIT DROP AS SELECT {', '.join(DECISION_COLUMNS)}"  # noqa: S608
            " FROM moderation_data_decision WITH NO DATA"
        )
        cursor.execute(
            "CREATE TEMP TABLE demo_appeals (platform_decision_id text, submitted_at timestamptz,"
            " resolved_at timestamptz, outcome text, reinstated_at timestamptz) ON COMMIT DROP"
        )
        raw = cursor.cursor
        appeals: list[str] = []
        lines = _small_copy_text(rows, seed, days) if rows <= SMALL_SET_ROWS else _copy_text(rows, seed, days)
        with raw.copy(f"COPY demo_decisions ({', '.join(DECISION_COLUMNS)}) FROM STDIN") as copy:
            buffer: list[str] = []
            for decision_line, appeal_line in lines:
                buffer.append(decision_line)
                if appeal_line:
                    appeals.append(appeal_line)
                if len(buffer) >= 5000:
                    copy.write("\n".join(buffer) + "\n")
                    buffer = []
            if buffer:
                copy.write("\n".join(buffer) + "\n")
        with raw.copy(f"COPY demo_appeals ({', '.join(appeal_columns)}) FROM STDIN") as copy:
            for start in range(0, len(appeals), 5000):
                copy.write("\n".join(appeals[start : start + 5000]) + "\n")
        cols = ", ".join(DECISION_COLUMNS)
        cursor.execute(
            f"INSERT INTO moderation_data_decision ({cols}, imported_at, updated_at)"  # noqa: S608
            f" SELECT {cols}, now(), now() FROM demo_decisions ON CONFLICT (platform_decision_id) DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute(
            """INSERT INTO moderation_data_appeal (decision_id, submitted_at, resolved_at, outcome, reinstated_at)
               SELECT d.id, t.submitted_at, t.resolved_at, t.outcome, t.reinstated_at
                 FROM demo_appeals t JOIN moderation_data_decision d USING (platform_decision_id)
               ON CONFLICT (decision_id) DO NOTHING"""
        )
        appeals_inserted = cursor.rowcount
        cursor.execute("ANALYZE moderation_data_decision")
    return {"rows": rows, "inserted": inserted, "appeals_inserted": appeals_inserted}
