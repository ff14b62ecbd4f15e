"""Release metadata never wider than the grant (docs/dsa-article-40.md, "Never wider than the request"): the
control totals, exact decisions per decided_on bucket and policy, are cut to a DSC grant's data period,
withheld when its fields leave out decided_on or policy, and withheld from the ``aggregate`` modality
(differentially private counts only); a platform-vetted records grant still gets them all."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from moderation_data.query.records import _bucket_end
from moderation_data.releases.models import Release
from moderation_data.releases.serializers import control_totals_for
from tests.api_fixtures import make_research_client
from tests.researchers.dsc_support import dsc_research_client
from tests.researchers.test_dsc_access import GENEROUS, middle_of

pytestmark = pytest.mark.django_db
LATEST = "/api/v1/datasets/moderation-decisions/releases/latest"
COUNT = f"{LATEST}/count"


def _precision(release) -> str:
    return next(f for f in release.codebook if f["name"] == "decided_on").get("precision", "day")


def _bucket(release, total: dict) -> tuple[dt.date, dt.date]:
    """The first and last day a total's decisions can lie on (a bucket ends by the release's last day)."""
    first = dt.date.fromisoformat(total["period"])
    return first, min(_bucket_end(first, total.get("precision") or _precision(release)), release.period_end)


def _totals(researcher) -> list[dict] | None:
    response = researcher.get(LATEST)
    assert response.status_code == 200, response.content
    return response.json()["control_totals"]


def _inside(release, start: dt.date, end: dt.date) -> list[dict]:
    """Independently of the endpoint: the release's totals whose bucket lies wholly within [start, end]."""
    return [t for t in release.control_totals if start <= _bucket(release, t)[0] and _bucket(release, t)[1] <= end]


@pytest.mark.parametrize("period", ["middle", "whole", "all but the last day"])
def test_a_dsc_grant_gets_only_the_totals_wholly_within_its_period(release, period):
    start, end = {
        "middle": middle_of(release),
        "whole": (release.period_start, release.period_end),
        "all but the last day": (release.period_start, release.period_end - dt.timedelta(days=1)),
    }[period]
    researcher = dsc_research_client(data_from=start, data_until=end, quotas=GENEROUS)
    totals = _totals(researcher)
    for total in totals:
        first, last = _bucket(release, total)
        assert start <= first and last <= end, total
    assert totals == _inside(release, start, end)
    # They add up to the rows the grant can count: the period is applied as records apply it.
    assert sum(t["decisions"] for t in totals) == researcher.post(COUNT, {}).json()["count"]
    if period == "whole":
        assert totals == release.control_totals and sum(t["decisions"] for t in totals) == release.row_count
    elif _precision(release) != "day":
        # The release's last bucket ends on its last day: a period ending the day before leaves it out.
        assert release.control_totals[-1] not in totals


@pytest.mark.parametrize("fields", [["decided_on", "country"], ["policy", "country"], ["country"]])
def test_a_dsc_grant_whose_fields_leave_out_decided_on_or_policy_gets_no_totals(release, fields):
    assert _totals(dsc_research_client(fields_requested=fields)) is None


def test_a_dsc_grant_with_both_fields_and_a_period_covering_the_release_gets_them_all(release):
    researcher = dsc_research_client(fields_requested=["decided_on", "policy"])  # 2024-01-01 to 2026-12-31
    assert _totals(researcher) == release.control_totals


def test_the_aggregate_modality_gets_no_exact_totals(release):
    assert _totals(dsc_research_client(modality="aggregate")) is None
    assert _totals(make_research_client(modality="aggregate")) is None


def test_a_platform_vetted_records_grant_still_gets_every_total(release):
    for modality in ("records", "records_and_exports"):
        totals = _totals(make_research_client(modality=modality))
        assert totals == release.control_totals and totals


def test_the_schema_says_control_totals_may_be_null(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    prop = schema["components"]["schemas"]["ReleaseDetail"]["properties"]["control_totals"]
    assert prop["type"] == "array" and prop.get("nullable") is True


# --- the rule itself, on a release of several buckets (the shared one has a single month) -------------------

WEEKS = [dt.date(2025, 1, 6) + dt.timedelta(weeks=n) for n in range(5)]  # Mondays; the release ends on a Wednesday


def _weekly_release() -> Release:
    totals = [
        {
            "period": str(monday),
            "precision": "week",
            "month": monday.strftime("%Y-%m"),
            "policy": policy,
            "decisions": n,
        }
        for n, monday in enumerate(WEEKS)
        for policy in ("scams_fraud", "spam")
    ]
    return Release(
        period_start=WEEKS[0],
        period_end=WEEKS[-1] + dt.timedelta(days=2),
        control_totals=totals,
        codebook=[{"name": "decided_on", "type": "date", "precision": "week"}],
    )


def _grant(modality="records", data_from=None, data_until=None, data_fields=()):
    return SimpleNamespace(modality=modality, data_from=data_from, data_until=data_until, data_fields=list(data_fields))


@pytest.mark.parametrize(
    ("data_from", "data_until", "weeks"),
    [
        (None, None, [0, 1, 2, 3, 4]),
        (WEEKS[1], WEEKS[3] + dt.timedelta(days=6), [1, 2, 3]),  # Monday to Sunday: whole weeks
        (WEEKS[1] + dt.timedelta(days=1), WEEKS[3] + dt.timedelta(days=5), [2]),  # Tuesday to Saturday
        (WEEKS[4], WEEKS[4] + dt.timedelta(days=2), [4]),  # the last week ends with the release, on Wednesday
        (WEEKS[4], WEEKS[4] + dt.timedelta(days=1), []),
        (None, WEEKS[1], [0]),
        (WEEKS[3], None, [3, 4]),
    ],
)
def test_only_buckets_wholly_within_the_period_are_kept(data_from, data_until, weeks):
    release = _weekly_release()
    kept = control_totals_for(release, _grant(data_from=data_from, data_until=data_until))
    assert [dt.date.fromisoformat(t["period"]) for t in kept] == [WEEKS[n] for n in weeks for _ in range(2)]


def test_fields_and_modality_withhold_the_totals():
    release = _weekly_release()
    everything = release.control_totals
    assert control_totals_for(release, _grant(data_fields=["decided_on", "policy", "country"])) == everything
    assert control_totals_for(release, _grant(data_fields=["decided_on", "country"])) is None
    assert control_totals_for(release, _grant(modality="aggregate")) is None
    assert control_totals_for(release, _grant(modality="records_and_exports")) == release.control_totals


def test_the_anonymization_statistics_exact_counts_reach_only_unlimited_record_grants(release):
    """Rows read, suppressed, recoded... are exact counts over the whole release: an aggregate grant (noisy
    counts only) and a DSC grant (its period only) get the anonymization's parameters without them."""
    counts = {key for key in release.anonymization if key.endswith("_rows") or key.startswith("suppressed_for")}
    assert {"source_rows", "suppressed_rows"} <= counts
    readers = {
        "aggregate": make_research_client(modality="aggregate"),
        "dsc": dsc_research_client(data_from=middle_of(release)[0], data_until=release.period_end, quotas=GENEROUS),
    }
    for name, reader in readers.items():
        anonymization = reader.get(LATEST).json()["anonymization"]
        assert not counts & set(anonymization), name
        assert anonymization["k"] == release.anonymization["k"] and anonymization["precision"], name
    assert counts <= set(make_research_client().get(LATEST).json()["anonymization"])
