"""generate_demo_data's distributions, determinism and idempotence; the seed_demo step."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command

from moderation_data.ingest.demo import generate_rows
from moderation_data.ingest.models import Appeal, Decision
from moderation_data.releases.models import Release
from moderation_data.releases.seed import seed_demo_data

from .conftest import ensure_datasets

pytestmark = pytest.mark.django_db


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    first = [d for d, _ in generate_rows(300, 1)]
    assert first == [d for d, _ in generate_rows(300, 1)]
    assert first != [d for d, _ in generate_rows(300, 2)]


def test_demo_distributions_are_realistic_and_skewed():
    rows = list(generate_rows(40_000, 3))
    decisions = [d for d, _ in rows]
    appeals = [a for _, a in rows if a]
    policies = Counter(d["policy"] for d in decisions)
    assert 0.005 < policies["violent_extremism"] / len(decisions) < 0.03
    extremism_sources = Counter(d["detection_source"] for d in decisions if d["policy"] == "violent_extremism")
    assert extremism_sources["partner_alert"] > 0 and extremism_sources["law_enforcement_referral"] > 0
    assert all(d["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
               and d["category_specification"] == ["KEYWORD_TERRORIST_CONTENT"]
               for d in decisions if d["policy"] == "violent_extremism")  # fmt: skip
    automated = sum(d["automated_detection"] == "Yes" for d in decisions) / len(decisions)
    assert automated > 0.6
    assert 0.03 < len(appeals) / len(decisions) < 0.15
    assert any(a["reinstated_at"] for a in appeals) and any(a["outcome"] == "upheld" for a in appeals)
    countries = Counter(d["uploader_country"] for d in decisions)
    languages = Counter(d["content_language"] for d in decisions)
    assert len(countries) >= 35 and len(languages) >= 40
    assert countries.most_common(1)[0][0] == "DE" and min(countries.values()) < 40  # a long tail
    accounts = Counter(d["account_id"] for d in decisions)
    assert accounts.most_common(1)[0][1] > 50  # repeat offenders


def test_generating_twice_with_the_same_seed_changes_nothing(capsys):
    call_command("generate_demo_data", "--rows", "500", "--seed", "4")
    before = Decision.objects.count(), Appeal.objects.count()
    call_command("generate_demo_data", "--rows", "500", "--seed", "4")
    assert (Decision.objects.count(), Appeal.objects.count()) == before == (500, before[1])
    assert "0 new" in capsys.readouterr().out.splitlines()[-1]


def test_the_seed_step_publishes_a_release_once_for_the_same_data():
    ensure_datasets()
    out = io.StringIO()
    first = seed_demo_data(rows=800, seed=42, stdout=out)
    assert Release.objects.published().filter(dataset__slug="moderation-decisions").count() == 1
    again = seed_demo_data(rows=800, seed=42, stdout=out)
    assert again == first and "already published" in out.getvalue()
    assert Release.objects.filter(dataset__slug="moderation-decisions").count() == 1
    assert Release.objects.published().filter(dataset__slug="enforcement-summary").count() == 1


def test_seed_demo_runs_the_data_step_first():
    from platform_api.management.commands.seed_demo import SEED_STEPS

    assert SEED_STEPS[0] == "moderation_data.releases.seed.seed_demo_data"


def test_build_release_command_prints_the_statistics(capsys):
    ensure_datasets()
    call_command("generate_demo_data", "--rows", "600", "--seed", "6")
    call_command("build_release", "moderation-decisions", "--version", "2025.1")
    out = capsys.readouterr().out
    assert "moderation-decisions 2025.1: published, " in out and "suppressed" in out
    assert Release.objects.get(dataset__slug="moderation-decisions").version == "2025.1"
