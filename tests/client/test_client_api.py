"""The client against a live platform: every method, typed data, typed errors, tokens, quotas, exports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import modresearch
import pandas as pd
import pytest
from modresearch import Client

from tests.client.conftest import committed

pytestmark = pytest.mark.django_db

DATASET = "moderation-decisions"
# Fields the shared release keeps (k-anonymity withholds detection_source and gives decided_on a month
# precision: a filter on those would select nothing, see test_a_filter_on_generalized_values_...).
POLICIES = ["spam_fake_engagement", "harassment_bullying", "hateful_behavior"]
FILTER = {"policy__in": POLICIES, "decided_on__gte": "2025-01-01"}


def _mask(frame: pd.DataFrame) -> pd.Series:
    return frame["policy"].isin(POLICIES) & (frame["decided_on"] >= pd.Timestamp("2025-01-01"))


@pytest.fixture(scope="module")
def full(live) -> pd.DataFrame:
    """Every row of the shared release, walked in 16 pages."""
    return live.client().records(DATASET, page_size=97)


def test_me_usage_datasets_and_codebook_describe_the_grant(live):
    client = live.client()
    me = client.me()
    assert me["client_id"] == live.default.client_id
    assert DATASET in me["datasets"] and "exports" in me["scopes"]
    usage = client.usage()
    assert {"today", "quotas", "days"} <= set(usage)
    datasets = client.datasets()
    assert datasets.loc[DATASET, "latest_release"] == live.release.version
    codebook = client.codebook(DATASET)
    assert codebook.loc["policy", "type"] == "enum" and codebook.loc["policy", "dtype"] == "category"
    assert codebook.loc["decided_on", "dtype"] == "datetime64[ns]"
    assert list(codebook.index)[:3] == ["decision_id", "account_id", "content_id"]


def test_records_carry_the_codebooks_dtypes(live, full):
    codebook = {f["name"]: f for f in live.client().dataset(DATASET)["codebook"]}
    assert full["decided_on"].dtype == "datetime64[ns]"
    assert isinstance(full["content_created_month"].dtype, pd.PeriodDtype)
    policy = full["policy"].dtype
    assert isinstance(policy, pd.CategoricalDtype) and not policy.ordered
    # The codebook's full domain, in its order, even for values that never occur in these rows.
    assert list(policy.categories) == [v["value"] for v in codebook["policy"]["values"]]
    views = full["views_before_action"].dtype
    assert views.ordered and list(views.categories) == ["0", "1-100", "101-1000", "1001-10000", ">10000"]
    assert (full["views_before_action"] >= "101-1000").sum() > 0
    # Both nullable: appealed may be withheld (null) in a class where every account appealed.
    assert full["appealed"].dtype == "boolean" and full["automated_detection"].dtype == "boolean"
    assert all(isinstance(v, list) for v in full["territorial_scope"].dropna())
    assert full["decision_id"].is_unique and len(full) == live.release.row_count
    assert full.attrs["release"] == live.release.version


def test_a_walk_over_many_pages_equals_count_and_a_client_side_filter_of_a_full_walk(live, full):
    client = live.client()
    filtered = client.records(DATASET, where=FILTER, page_size=13)
    expected = full[_mask(full)].reset_index(drop=True)
    assert 5 * 13 < len(filtered) < len(full)  # many pages, and a real filter
    counted = client.count(DATASET, where=FILTER)
    assert len(filtered) == counted and counted.generalized_overlap == 0
    pd.testing.assert_frame_equal(filtered, expected, check_like=False)
    assert filtered.attrs["generalized_overlap"] == 0  # exact values and a whole month bucket


def test_a_filter_on_generalized_values_reports_the_rows_it_cannot_decide(live, full):
    client = live.client()
    precision = {f["name"]: f.get("precision") for f in client.dataset(DATASET)["codebook"]}
    assert precision["detection_source"] == "withheld" and precision["decided_on"] == "month"
    for arrow in (True, False):
        reader = live.client(arrow=arrow)
        withheld = reader.records(DATASET, where={"detection_source": "hash_match"}, fields=["decision_id"])
        assert withheld.empty and withheld.attrs["generalized_overlap"] == len(full)
        inside_a_month = reader.records(DATASET, where={"decided_on__gte": "2025-01-08"}, fields=["decision_id"])
        assert inside_a_month.empty and inside_a_month.attrs["generalized_overlap"] == len(full)
    # A count says the same: none certainly match, all may.
    counted = client.count(DATASET, where={"decided_on__gte": "2025-01-08"})
    assert counted == 0 and counted.generalized_overlap == len(full)
    assert str(counted) == "0" and repr(counted) == f"Count(0, generalized_overlap={len(full)})"


def test_every_form_of_where_selects_the_same_rows(live):
    client = live.client()
    forms = [
        FILTER,
        "policy__in=spam_fake_engagement,harassment_bullying,hateful_behavior&decided_on__gte=2025-01-01",
        {
            "and": [
                {"operation": "IN", "field_name": "policy", "field_values": POLICIES},
                {"operation": "GTE", "field_name": "decided_on", "field_values": [dt.date(2025, 1, 1)]},
            ]
        },
        [
            {"operation": "IN", "field_name": "policy", "field_values": POLICIES},
            {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
        ],
    ]  # fmt: skip
    # Not a plain AND: sent in the POST form (the others go as GET parameters, which is cheaper).
    forms.append(
        {
            "or": [{"operation": "EQ", "field_name": "policy", "field_values": [s]} for s in POLICIES],
            "not": [{"operation": "LT", "field_name": "decided_on", "field_values": ["2025-01-01"]}],
        }
    )
    ids = [client.records(DATASET, where=where, fields=["decision_id"])["decision_id"].tolist() for where in forms]
    assert ids[0] and all(other == ids[0] for other in ids[1:])


def test_limit_and_fields_select_rows_and_columns_in_order(live, full):
    frame = live.client().records(DATASET, fields="policy,decision_id,decided_on", limit=250, page_size=100)
    assert list(frame.columns) == ["policy", "decision_id", "decided_on"]
    assert frame["decision_id"].tolist() == full["decision_id"].head(250).tolist()
    empty = live.client().records(DATASET, where={"policy": "violent_extremism", "decided_on__lt": "2000-01-01"})
    assert empty.empty and empty["decided_on"].dtype == "datetime64[ns]" and len(empty.columns) == len(full.columns)


def test_iter_records_pages_concatenate_to_records_and_iter_rows_gives_the_api_rows(live, full):
    client = live.client()
    pages = list(client.iter_records(DATASET, page_size=500))
    assert [len(p) for p in pages] == [500, 500, len(full) - 1000]
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), full)
    rows = list(client.iter_rows(DATASET, fields=["decision_id", "decided_on"], limit=3))
    assert rows == [
        {"decision_id": d, "decided_on": day.strftime("%Y-%m-%d")}
        for d, day in zip(full["decision_id"][:3], full["decided_on"][:3], strict=True)
    ]


def test_release_pins_the_version_it_resolved_for_the_rest_of_the_session(live):
    from moderation_data.ingest.models import Decision
    from tests.api_fixtures import build_published_release
    from tests.conftest import purge_releases_after, release_watermark

    client = live.client()
    pinned = client.release(DATASET)
    assert pinned.version == live.release.version and pinned.row_count == live.release.row_count
    before = committed(release_watermark)
    newer = committed(lambda: build_published_release(rows=600, seed=5, version="2099.01.01", days=56))
    try:
        # The pinned client keeps reading its release; a new session reads the newest.
        assert client.records(DATASET, fields=["decision_id"]).attrs["release"] == pinned.version
        assert client.count(DATASET) == live.release.row_count
        fresh = live.client()
        assert fresh.records(DATASET, fields=["decision_id"]).attrs["release"] == newer.version
        assert fresh.pinned(DATASET) == newer.version
        assert client.release(DATASET, "latest").version == newer.version  # asked for explicitly: re-pinned
    finally:
        committed(lambda: (purge_releases_after(before), Decision.objects.all().delete()))


def test_server_errors_raise_one_typed_exception_per_code(live):
    client = live.client()
    with pytest.raises(modresearch.InvalidQuery) as bad_field:
        client.records(DATASET, where={"no_such_field": "x"})
    assert bad_field.value.code == "invalid_query" and bad_field.value.status == 400
    assert bad_field.value.detail["path"] and len(bad_field.value.request_id) >= 8
    with pytest.raises(modresearch.ScopeMissing):
        client.count("some-other-dataset")
    with pytest.raises(modresearch.NotFound):
        client.release(DATASET, "1999.01.01")
    with pytest.raises(modresearch.AuthenticationFailed) as refused:
        Client(live.url, live.default.client_id, "wrong-secret", progress=False).me()
    assert "MODRESEARCH_CLIENT_SECRET" in str(refused.value)
    with pytest.raises(ValueError, match="page_size"):
        client.records(DATASET, page_size=5000)


def test_an_expired_token_is_renewed_transparently(live):
    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    client = live.client()
    assert client.count(DATASET) == live.release.row_count
    assert client._transport.tokens_fetched == 1
    expired = committed(
        lambda: AccessToken.objects.filter(application__client_id=live.default.client_id).update(
            expires=timezone.now() - dt.timedelta(seconds=1)
        )
    )
    assert expired >= 1
    # The server answers 401 to the expired token; the client renews it once and carries on.
    assert client.count(DATASET) == live.release.row_count
    assert client._transport.tokens_fetched == 2
    # Near its expiry (by the client's clock) the token is renewed before it is refused.
    transport = client._transport
    now = transport.clock()
    transport.clock = lambda: now + 3600
    assert client.me()["client_id"] == live.default.client_id
    assert transport.tokens_fetched == 3


def test_a_quota_cut_off_stops_with_when_it_resets_and_how_to_resume(live, tmp_workdir):
    from researchers.models import AccessGrant

    credentials = live.make_credentials(records_per_day=300, requests_per_minute=1000, requests_per_day=10_000)
    client = live.client(credentials)
    with pytest.raises(modresearch.QuotaExceeded) as cut:
        client.records(DATASET, page_size=100)
    error = cut.value
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, minutes=2)
    assert error.resets_at is not None and dt.datetime.now(dt.UTC) < error.resets_at < tomorrow
    assert len(error.partial) == error.rows_fetched == 300 and "state=" in str(error)

    state = tmp_workdir / "walk.state"
    committed(lambda: AccessGrant.objects.filter(pk=credentials.grant.pk).update(records_per_day=600))
    with pytest.raises(modresearch.QuotaExceeded) as again:
        client.records(DATASET, page_size=100, state=state)
    assert again.value.resume["rows"] == 300 and state.exists()
    # An administrator raises the quota (as the reset at midnight would): the same call continues.
    committed(lambda: AccessGrant.objects.filter(pk=credentials.grant.pk).update(records_per_day=10_000))
    frame = client.records(DATASET, page_size=100, state=state)
    assert not state.exists() and not (tmp_workdir / "walk.state.pages").exists()
    # 300 in the first call, 300 saved by the second, the rest by the third: nothing fetched twice after saving.
    assert client.usage()["today"]["records"] == 300 + 300 + (len(frame) - 300)
    whole = client.records(DATASET)  # pseudonyms are per project: compare within this grant's project
    pd.testing.assert_frame_equal(frame, whole)


def test_export_waits_downloads_verifies_and_loads_the_same_rows_as_records(live, tmp_workdir):
    client = live.client()
    fields = ["decision_id", "decided_on", "policy", "detection_source", "territorial_scope", "reinstated"]
    expected = client.records(DATASET, where=FILTER, fields=fields)
    for fmt in ("parquet", "csv", "jsonl"):
        job = client.export(DATASET, format=fmt, where=FILTER, fields=fields)
        assert job.status in ("queued", "running", "ready")
        job.wait(progress=False, poll=0.2)
        path = job.download(tmp_workdir / f"out.{fmt}", progress=False)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == job.sha256
        assert not path.with_name(path.name + ".part").exists()
        pd.testing.assert_frame_equal(job.to_dataframe(), expected, check_like=False)
    assert {j.id for j in client.exports()} >= {job.id}
    assert client.get_export(job.id).status == "ready"
    # No matching row (a withheld field is null everywhere): a Parquet file with the schema and no row.
    empty = client.export(DATASET, format="parquet", where={"detection_source": "hash_match"}, fields=fields)
    assert empty.wait(progress=False, poll=0.2).to_dataframe().empty


def test_citations_in_text_bibtex_and_ris(live):
    release = live.client().release(DATASET)
    text = release.citation()
    assert release.version in text and release.meta["sha256"] in text
    bibtex = release.citation("bibtex")
    assert bibtex.startswith("@") and release.version in bibtex and release.meta["sha256"] in bibtex
    ris = release.citation("ris")
    assert ris.splitlines()[0] == "TY  - DATA" and ris.splitlines()[-1].startswith("ER  -")
    with pytest.raises(ValueError):
        release.citation("apa")


def test_credentials_come_from_the_environment_or_a_downloaded_file(live, tmp_workdir, monkeypatch):
    for key in ("MODRESEARCH_URL", "MODRESEARCH_CLIENT_ID", "MODRESEARCH_CLIENT_SECRET", "MODRESEARCH_CREDENTIALS"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(modresearch.ConfigurationError, match="MODRESEARCH_CLIENT_ID"):
        Client.from_env()
    (tmp_workdir / ".env").write_text(
        f"# from the portal\nMODRESEARCH_URL={live.url}\nexport MODRESEARCH_CLIENT_ID='{live.default.client_id}'\n"
        f'MODRESEARCH_CLIENT_SECRET="{live.default.client_secret}"\n'
    )
    assert Client.from_env(progress=False).me()["client_id"] == live.default.client_id
    file = {"url": live.url, "client_id": live.default.client_id, "client_secret": live.default.client_secret}
    (tmp_workdir / "credentials.json").write_text(json.dumps(file))
    monkeypatch.setenv("MODRESEARCH_CREDENTIALS", str(tmp_workdir / "credentials.json"))
    assert Client.from_env(progress=False).count(DATASET) == live.release.row_count
    for key, value in live.env().items():
        if key.startswith("MODRESEARCH_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODRESEARCH_CREDENTIALS")
    assert repr(Client.from_env()) == f"Client({live.url!r}, client_id={live.default.client_id!r})"


def test_aggregate_answers_every_group_with_intervals_a_repeat_is_free_and_estimate_spends_nothing(live):
    credentials = live.make_credentials(modality="aggregate")
    client = live.client(credentials)
    estimate = client.estimate(DATASET, group_by=["detection_source"], epsilon=0.5)
    assert estimate["epsilon_cost"] == 0.5 and estimate["ci95_width"] > 0
    where = {"policy": "violent_extremism"}
    agg = client.aggregate(DATASET, group_by=["detection_source"], where=where, epsilon=0.5)
    sources = client.codebook(DATASET).loc["detection_source", "values"]
    # Every group of the domain is answered, zero or not (and the group of rows where it is missing).
    assert set(agg["detection_source"].dropna()) == {v["value"] for v in sources}
    assert agg["detection_source"].isna().sum() <= 1
    assert list(agg.columns[:5]) == ["detection_source", "count", "noise_scale", "ci95_low", "ci95_high"]
    # Intervals for the true counts: around the noisy count, never below zero (docs/aggregates.md).
    assert ((agg["ci95_low"] >= 0) & (agg["ci95_low"] <= agg["count"].clip(lower=0))).all()
    assert (agg["count"] <= agg["ci95_high"]).all() and (agg["noise_scale"] > 0).all()
    assert agg.attrs["epsilon_spent"] == 0.5 and agg.attrs["release"] == live.release.version
    again = client.aggregate(DATASET, group_by=["detection_source"], where=where, epsilon=0.5)
    assert again.attrs["epsilon_spent"] == 0 and again["count"].tolist() == agg["count"].tolist()
    assert again.attrs["budget_remaining"] == agg.attrs["budget_remaining"]
    with pytest.raises(modresearch.PermissionDenied):
        client.records(DATASET, limit=1)  # an aggregate grant reads no rows


def test_an_export_can_be_cancelled_and_waiting_on_it_says_so(live):
    job = live.client().export(DATASET, format="csv", fields=["decision_id"])
    job.cancel()  # queued or running: cancelled and refunded; already ready: its file is deleted
    assert job.status in ("cancelled", "expired")
    with pytest.raises(modresearch.ExportFailed, match=job.status):
        job.wait(progress=False)
