"""Vocabularies: the DSA statement-of-reasons enums (keys verbatim) and the platform's own taxonomy.

The DSA keys and labels come from ``data/dsa_sor_enums.json`` (the EU schema, v2 plus the v1
categories still found in older dumps), so the raw tier, the codebook and the import validator
share one source of truth.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.db import models

ENUMS_PATH = Path(__file__).resolve().parent / "data" / "dsa_sor_enums.json"


@cache
def dsa_enums() -> dict:
    return json.loads(ENUMS_PATH.read_text(encoding="utf-8"))


def _choices(name: str, mapping: dict[str, str]) -> type[models.TextChoices]:
    return models.TextChoices(name, [(key, (key, label)) for key, label in mapping.items()])


_V2 = dsa_enums()["v2"]
_V1_CATEGORIES = dsa_enums()["v1_before_2025-07-01"]["STATEMENT_CATEGORIES"]

DecisionVisibility = _choices("DecisionVisibility", _V2["DECISION_VISIBILITIES"])
DecisionMonetary = _choices("DecisionMonetary", _V2["DECISION_MONETARIES"])
DecisionProvision = _choices("DecisionProvision", _V2["DECISION_PROVISIONS"])
DecisionAccount = _choices("DecisionAccount", _V2["DECISION_ACCOUNTS"])
AccountType = _choices("AccountType", _V2["ACCOUNT_TYPES"])
DecisionGround = _choices("DecisionGround", _V2["DECISION_GROUNDS"])
YesNo = _choices("YesNo", {value: value for value in _V2["AUTOMATED_DETECTIONS"]})
ContentType = _choices("ContentType", _V2["CONTENT_TYPES"])
# v1 dumps (before 2025-07-01) use categories that v2 dropped; both stay importable.
Category = _choices("Category", {**_V2["STATEMENT_CATEGORIES"], **_V1_CATEGORIES})
Keyword = _choices("Keyword", _V2["KEYWORDS"])
SourceType = _choices("SourceType", _V2["SOURCE_TYPES"])
AutomatedDecision = _choices("AutomatedDecision", _V2["AUTOMATED_DECISIONS"])

EUROPEAN_COUNTRY_CODES: tuple[str, ...] = tuple(dsa_enums()["territorial_scope"]["EUROPEAN_COUNTRY_CODES"])
LANGUAGES: dict[str, str] = dict(dsa_enums()["content_language_ALL_LANGUAGES"])


class SubjectType(models.TextChoices):
    CONTENT = "content", "Content"
    ACCOUNT = "account", "Account"


class Policy(models.TextChoices):
    VIOLENT_EXTREMISM = "violent_extremism", "Violent extremism"
    HATEFUL_BEHAVIOR = "hateful_behavior", "Hateful behavior"
    HARASSMENT_BULLYING = "harassment_bullying", "Harassment and bullying"
    VIOLENT_GRAPHIC_CONTENT = "violent_graphic_content", "Violent and graphic content"
    SUICIDE_SELF_HARM = "suicide_self_harm", "Suicide and self-harm"
    MINOR_SAFETY = "minor_safety", "Minor safety"
    ADULT_NUDITY_SEXUAL_ACTIVITY = "adult_nudity_sexual_activity", "Adult nudity and sexual activity"
    ILLEGAL_ACTIVITIES_REGULATED_GOODS = "illegal_activities_regulated_goods", "Illegal activities and regulated goods"
    INTEGRITY_AUTHENTICITY = "integrity_authenticity", "Integrity and authenticity"
    MISINFORMATION = "misinformation", "Misinformation"
    SPAM_FAKE_ENGAGEMENT = "spam_fake_engagement", "Spam and fake engagement"
    OTHER = "other", "Other"


# Each policy's DSA category and, where one fits, the keyword (category_specification) that marks it.
POLICY_TO_DSA: dict[str, tuple[str, str | None]] = {
    Policy.VIOLENT_EXTREMISM: ("STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", "KEYWORD_TERRORIST_CONTENT"),
    Policy.HATEFUL_BEHAVIOR: ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "KEYWORD_HATE_SPEECH"),
    Policy.HARASSMENT_BULLYING: ("STATEMENT_CATEGORY_CYBER_VIOLENCE", "KEYWORD_CYBER_HARASSMENT"),
    Policy.VIOLENT_GRAPHIC_CONTENT: ("STATEMENT_CATEGORY_VIOLENCE", None),
    Policy.SUICIDE_SELF_HARM: ("STATEMENT_CATEGORY_SELF_HARM", "KEYWORD_SELF_MUTILATION"),
    Policy.MINOR_SAFETY: ("STATEMENT_CATEGORY_PROTECTION_OF_MINORS", None),
    Policy.ADULT_NUDITY_SEXUAL_ACTIVITY: ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "KEYWORD_ADULT_SEXUAL_MATERIAL"),
    Policy.ILLEGAL_ACTIVITIES_REGULATED_GOODS: ("STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS", None),
    Policy.INTEGRITY_AUTHENTICITY: ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING"),
    Policy.MISINFORMATION: (
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "KEYWORD_MISINFORMATION_DISINFORMATION",
    ),
    Policy.SPAM_FAKE_ENGAGEMENT: ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", None),
    Policy.OTHER: ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
}

# Derivation for DSA rows that carry no platform policy: category → policy (many-to-one where
# a category covers several policies, the most specific reading is taken; unknown → other).
CATEGORY_TO_POLICY: dict[str, str] = {
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": Policy.VIOLENT_EXTREMISM,
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": Policy.HATEFUL_BEHAVIOR,
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": Policy.HARASSMENT_BULLYING,
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN": Policy.HARASSMENT_BULLYING,
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR": Policy.HARASSMENT_BULLYING,
    "STATEMENT_CATEGORY_VIOLENCE": Policy.VIOLENT_GRAPHIC_CONTENT,
    "STATEMENT_CATEGORY_SELF_HARM": Policy.SUICIDE_SELF_HARM,
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": Policy.MINOR_SAFETY,
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT": Policy.ADULT_NUDITY_SEXUAL_ACTIVITY,
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": Policy.ILLEGAL_ACTIVITIES_REGULATED_GOODS,
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS": Policy.ILLEGAL_ACTIVITIES_REGULATED_GOODS,
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": Policy.INTEGRITY_AUTHENTICITY,
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": Policy.MISINFORMATION,
}


def policy_for_category(category: str | None, keywords: list[str] | None = None) -> str:
    """The platform policy a DSA-only row most plausibly falls under (`other` when unsure)."""
    if keywords and "KEYWORD_ADULT_SEXUAL_MATERIAL" in keywords:
        return Policy.ADULT_NUDITY_SEXUAL_ACTIVITY
    return CATEGORY_TO_POLICY.get(category or "", Policy.OTHER)


class DetectionSource(models.TextChoices):
    AUTOMATED_CLASSIFIER = "automated_classifier", "Automated classifier"
    HASH_MATCH = "hash_match", "Hash match"
    USER_REPORT = "user_report", "User report"
    TRUSTED_FLAGGER = "trusted_flagger", "Trusted flagger"
    PARTNER_ALERT = "partner_alert", "Partner alert"
    LAW_ENFORCEMENT_REFERRAL = "law_enforcement_referral", "Law-enforcement referral"
    INTERNAL_INVESTIGATION = "internal_investigation", "Internal investigation"


def detection_source_for(source_type: str | None, automated_detection: str | None) -> str | None:
    """What a DSA row tells about how the item was found; None when it does not say."""
    if source_type == "SOURCE_TRUSTED_FLAGGER":
        return DetectionSource.TRUSTED_FLAGGER
    if source_type == "SOURCE_ARTICLE_16":
        return DetectionSource.USER_REPORT
    if source_type == "SOURCE_VOLUNTARY":
        if automated_detection == "Yes":
            return DetectionSource.AUTOMATED_CLASSIFIER
        return DetectionSource.INTERNAL_INVESTIGATION
    return None


class AppealOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    UPHELD = "upheld", "Decision upheld"
    REVERSED = "reversed", "Decision reversed"
    MODIFIED = "modified", "Decision modified"


# Country generalization, first rung of the ladder (country → region → OTHER).
REGIONS: dict[str, tuple[str, ...]] = {
    "EU_NORTH": ("DK", "EE", "FI", "IE", "IS", "LT", "LV", "NO", "SE"),
    "EU_WEST": ("AT", "BE", "DE", "FR", "LI", "LU", "NL"),
    "EU_SOUTH": ("CY", "ES", "GR", "HR", "IT", "MT", "PT", "SI"),
    "EU_EAST": ("BG", "CZ", "HU", "PL", "RO", "SK"),
}
NON_EEA_REGION = "NON_EEA"
OTHER_COUNTRY = "OTHER"
OTHER_LANGUAGE = "other"
COUNTRY_TO_REGION: dict[str, str] = {c: region for region, codes in REGIONS.items() for c in codes}
REGION_LABELS: dict[str, str] = {
    "EU_NORTH": "Northern Europe (EEA)",
    "EU_WEST": "Western Europe (EEA)",
    "EU_SOUTH": "Southern Europe (EEA)",
    "EU_EAST": "Eastern Europe (EEA)",
    NON_EEA_REGION: "Outside the EEA",
    OTHER_COUNTRY: "Any country (fully generalized)",
}
