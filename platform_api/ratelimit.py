"""Per-grant request and record counters in Redis (the shared store for rate limits and quotas).

Windows: requests per minute, requests per UTC day, records per UTC day. Keys expire on their
own shortly after their window ends, so nothing needs cleaning up.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import redis
from django.conf import settings

KEY_PREFIX = "rl"


@lru_cache(maxsize=1)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d")


def next_utc_midnight(now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    return (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def day_key(grant_id: int, kind: str, day: str | None = None) -> str:
    return f"{settings.CACHES['default']['KEY_PREFIX']}:{KEY_PREFIX}:{grant_id}:{kind}:d:{day or utc_day()}"


def usage_today(grant_id: int) -> dict:
    """Today's (UTC) request and record counts of a grant, and when the window resets."""
    requests, records = client().mget(day_key(grant_id, "requests"), day_key(grant_id, "records"))
    return {
        "requests": int(requests or 0),
        "records": int(records or 0),
        "resets_at": next_utc_midnight().isoformat().replace("+00:00", "Z"),
    }
