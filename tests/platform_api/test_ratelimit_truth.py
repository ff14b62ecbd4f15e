"""Limits that tell the truth (docs/quotas.md): Retry-After and RateLimit's t= are the real time until
the window admits the request again, measured from the window's end on the limiter clock, and every
429 says which limit was hit.

Before this was fixed, a key's Redis TTL (window length + 60 s) was reported instead: a minute
window needing 8 s said 120 (or 68 in a running minute), a daily quota resetting in 71,008 s said
86,460, and ``t=120`` appeared on a ``w=60`` policy.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from platform_api import ratelimit
from platform_api.ratelimit import Window, admit
from tests.api_fixtures import make_research_client, unique_ip

DATASETS = "/api/v1/datasets"
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


def pin(monkeypatch, at: float) -> float:
    monkeypatch.setattr(ratelimit, "clock", lambda: at)
    return at


def today_midnight() -> int:
    return (int(ratelimit.time.time()) // 86_400) * 86_400


def rate_limit_t(response) -> int:
    return int(response["RateLimit"].rsplit("t=", 1)[1])


@pytest.mark.django_db
def test_retry_after_is_the_time_until_the_minute_window_admits_again(release, monkeypatch):
    minute = (int(ratelimit.time.time()) // 60) * 60
    now = pin(monkeypatch, minute + 52)  # 8 s before the minute ends
    researcher = make_research_client(requests_per_minute=2)
    admitted = [researcher.get(DATASETS) for _ in range(2)]
    refused = researcher.get(DATASETS)
    assert [r.status_code for r in admitted] == [200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "8"
    assert refused["RateLimit"] == '"minute";r=0;t=8'
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert {k: error["detail"][k] for k in ("window", "limit", "remaining", "reset_in")} == {
        "window": "minute",
        "limit": 2,
        "remaining": 0,
        "reset_in": 8,
    }
    assert error["detail"]["reset_at"] == ratelimit.iso(minute + 60)
    assert "minute limit of 2" in error["message"]
    # One second before the window admits again, it still refuses; at its end it admits.
    pin(monkeypatch, now + 7)
    assert researcher.get(DATASETS)["Retry-After"] == "1"
    pin(monkeypatch, minute + 60)
    assert researcher.get(DATASETS).status_code == 200


@pytest.mark.django_db
def test_a_daily_limit_says_the_seconds_until_midnight_utc(release, monkeypatch):
    midnight = today_midnight() + 86_400
    pin(monkeypatch, midnight - 71_008)
    researcher = make_research_client(requests_per_day=1)
    assert researcher.get(DATASETS).status_code == 200
    refused = researcher.get(DATASETS)
    assert refused["Retry-After"] == "71008"
    assert refused["RateLimit"] == '"day";r=0;t=71008'
    detail = refused.json()["error"]["detail"]
    assert (detail["window"], detail["limit"], detail["remaining"]) == ("day", 1, 0)
    assert detail["reset_at"] == dt.datetime.fromtimestamp(midnight, dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.django_db
def test_the_record_quota_says_when_it_resets_and_that_exports_are_separate(release, monkeypatch):
    midnight = today_midnight() + 86_400
    pin(monkeypatch, midnight - 71_008)
    researcher = make_research_client(records_per_day=5)
    assert len(researcher.get(RECORDS, {"page_size": 5}).json()["data"]) == 5
    refused = researcher.get(RECORDS, {"page_size": 5})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "71008"
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert (error["detail"]["window"], error["detail"]["limit"], error["detail"]["remaining"]) == ("records", 5, 0)
    assert error["detail"]["reset_in"] == 71_008
    assert "export" in error["message"]


@pytest.mark.django_db
def test_ratelimit_t_never_exceeds_the_policy_window(release, monkeypatch):
    minute = (int(ratelimit.time.time()) // 60) * 60
    pin(monkeypatch, minute + 1)
    researcher = make_research_client(requests_per_minute=5, requests_per_day=5)
    response = researcher.get(DATASETS)
    # Four remain in both windows; the minute resets first (59 s), and t is never more than w.
    assert response["RateLimit"] == '"minute";r=4;t=59'
    assert rate_limit_t(response) <= 60


@pytest.mark.django_db
def test_the_public_limit_tells_the_truth_too(client, settings, monkeypatch, release):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 1
    minute = (int(ratelimit.time.time()) // 60) * 60
    pin(monkeypatch, minute + 30)
    ip = unique_ip()
    assert client.get("/api/v1/public/enforcement-summary", REMOTE_ADDR=ip).status_code == 200
    refused = client.get("/api/v1/public/enforcement-summary", REMOTE_ADDR=ip)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    assert refused.json()["error"]["detail"]["window"] == "minute"


def test_a_request_refused_by_two_windows_waits_for_the_later_one(monkeypatch):
    minute_start = (int(ratelimit.time.time()) // 86_400) * 86_400 + 3_600  # 01:00 UTC, a minute boundary
    pin(monkeypatch, minute_start + 45)
    scope = f"test-{uuid.uuid4().hex}"
    windows = [
        Window.fixed(name="minute", limit=1, seconds=60, scope=scope),
        Window.fixed(name="day", limit=1, seconds=86_400, scope=scope),
    ]
    assert admit(windows).admitted
    refused = admit(windows)
    assert not refused.admitted
    assert refused.retry_after == 86_400 - 3_600 - 45  # the day ends after the minute does
    assert refused.detail()["window"] == "day"
    assert refused.headers()["RateLimit"] == f'"day";r=0;t={86_400 - 3_600 - 45}'


def test_keys_live_slightly_longer_than_their_window_but_are_never_reported_as_the_wait(redis_client, monkeypatch):
    minute = (int(ratelimit.time.time()) // 60) * 60
    pin(monkeypatch, minute + 50)
    window = Window.fixed(name="minute", limit=5, seconds=60, scope=f"test-{uuid.uuid4().hex}")
    admission = admit([window])
    assert admission.headers()["RateLimit"] == '"minute";r=4;t=10'
    assert 10 < redis_client.ttl(window.key) <= 10 + ratelimit.KEY_GRACE_SECONDS
