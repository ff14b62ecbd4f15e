"""Exact rate limits and quotas in Redis, shared by every web process and worker.

One Lua script checks all windows of a request (per minute, per UTC day, ...) and
increments them only if every one admits it, atomically: 200 concurrent requests
against a limit of 50 admit exactly 50, whatever the number of gunicorn processes.
(DRF's cache throttle reads, then writes, and over-admits under concurrency.)

Record quotas are *reserved* before rows are fetched (never more than what remains) and
the unused part refunded afterwards, so concurrent pages can never overshoot the quota.

Windows are fixed and aligned to the epoch (a day window resets at 00:00 UTC). The time a
client must wait is computed from the window's end and the limiter clock (:func:`clock`),
never from a key's TTL: a key lives a little longer than its window so that it cannot vanish
early, and its TTL says nothing about when the window admits again (docs/quotas.md).

Counters that must survive a Redis restart (a day's requests and records) name a ``seed``:
when their key is missing, the script admits nothing and reports it; the caller computes the
window's count from the durable record (the audit log), stores it with ``SET NX`` (so
concurrent rebuilds agree) and asks again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable
from functools import lru_cache

import redis
from django.conf import settings

DAY = 86_400
# A key outlives its window by this much: processes whose clocks differ slightly still share it.
KEY_GRACE_SECONDS = 60
# Rebuilding a missing counter and asking again: once is enough unless Redis restarts meanwhile.
_MAX_SEED_ROUNDS = 3


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def clock() -> float:
    """Seconds since the epoch: the limiter's only time source (tests replace it to pick a window)."""
    return time.time()


def key_prefix() -> str:
    """The prefix of every limiter key (``RATELIMIT_KEY_PREFIX``; tests give each test its own)."""
    return settings.RATELIMIT_KEY_PREFIX


def iso(timestamp: float) -> str:
    """A limiter timestamp as ISO 8601 UTC with a ``Z`` (how the API writes reset times)."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


# KEYS: one counter per window. ARGV: cost, then (limit, expire_seconds, seeded) per key.
# Returns {-1, i, ...} (1-based indexes of seeded keys that are missing: nothing was counted), or
# {admitted (1/0), count of window 1, count of window 2, ...} after this call.
_ADMIT = """
local cost = tonumber(ARGV[1])
local missing = {}
for i = 1, #KEYS do
  if ARGV[3 * i + 1] == '1' and redis.call('EXISTS', KEYS[i]) == 0 then table.insert(missing, i) end
end
if #missing > 0 then
  table.insert(missing, 1, -1)
  return missing
end
local admitted = 1
local counts = {}
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if counts[i] + cost > tonumber(ARGV[3 * i - 1]) then admitted = 0 end
end
local out = {admitted}
for i = 1, #KEYS do
  if admitted == 1 and cost > 0 then
    counts[i] = redis.call('INCRBY', KEYS[i], cost)
    if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3 * i])) end
  end
  table.insert(out, counts[i])
end
return out
"""

# KEYS[1]: counter. ARGV: wanted, limit, expire_seconds, seeded.
# Takes min(wanted, remaining); returns {taken, count}, or {-1} when a seeded key is missing.
_RESERVE = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local wanted = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local taken = math.max(0, math.min(wanted, limit - current))
if taken > 0 then
  current = redis.call('INCRBY', KEYS[1], taken)
  if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
end
return {taken, current}
"""

# KEYS: counters. ARGV[1]: amount. Gives back what was charged, never below zero.
_REFUND = """
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current > 0 then
    redis.call('DECRBY', KEYS[i], math.min(current, tonumber(ARGV[1])))
  end
end
return 1
"""

_scripts: dict[str, object] = {}


def _script(source: str):
    redis_client = client()
    script = _scripts.get(source)
    if script is None or script.registered_client is not redis_client:
        script = _scripts[source] = redis_client.register_script(source)
    return script


@dataclasses.dataclass(frozen=True)
class Window:
    """One fixed window of one counter: ``limit`` units per ``seconds``, starting at ``start`` (epoch)."""

    name: str  # "minute", "day", "records", ...
    limit: int
    seconds: int  # window length
    key: str
    start: float = 0.0
    # The window's count from a durable record, used when its key is missing (e.g. after a Redis restart).
    seed: Callable[[Window], int] | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def fixed(
        cls,
        *,
        name: str,
        limit: int,
        seconds: int,
        scope: str,
        at: float | None = None,
        seed: Callable[[Window], int] | None = None,
    ) -> Window:
        index = int(clock() if at is None else at) // seconds
        return cls(
            name=name,
            limit=limit,
            seconds=seconds,
            key=f"{key_prefix()}:{scope}:{name}:{index}",
            start=float(index * seconds),
            seed=seed,
        )

    @property
    def end(self) -> float:
        """When the window closes and the next one, empty, begins (epoch seconds)."""
        return self.start + self.seconds

    def reset_in(self, now: float | None = None) -> int:
        """Whole seconds from ``now`` (the limiter clock) until the window closes; never more than its length."""
        now = clock() if now is None else now
        return max(0, min(self.seconds, math.ceil(self.end - now)))

    def expire_seconds(self, now: float | None = None) -> int:
        """How long Redis keeps the key: the rest of the window, plus a grace for clock differences."""
        return self.reset_in(now) + KEY_GRACE_SECONDS

    def describe(self, count: int, now: float | None = None) -> dict:
        """What a 429 says about this window: its name, limit, what remains and when it resets."""
        return {
            "window": self.name,
            "limit": self.limit,
            "remaining": max(0, self.limit - count),
            "reset_at": iso(self.end),
            "reset_in": self.reset_in(now),
        }


def _seed(windows: list[Window], indexes: list[int], now: float) -> None:
    """Store the durable count of each missing window, unless someone stored one meanwhile (NX)."""
    redis_client = client()
    for index in indexes:
        window = windows[index]
        count = max(0, int(window.seed(window))) if window.seed else 0
        redis_client.set(window.key, count, nx=True, ex=window.expire_seconds(now))


@dataclasses.dataclass(frozen=True)
class Admission:
    admitted: bool
    windows: tuple[tuple[Window, int, int], ...]  # (window, count, seconds until it resets)
    cost: int = 1
    now: float = 0.0

    @property
    def refused_by(self) -> list[tuple[Window, int, int]]:
        """The windows that could not take this request (all of them must reset before it fits)."""
        return [item for item in self.windows if item[1] + self.cost > item[0].limit]

    @property
    def binding(self) -> tuple[Window, int, int]:
        """The window that decides: of those refusing, the one resetting last; else the closest to running out."""
        refused = self.refused_by
        if refused:
            return max(refused, key=lambda item: item[2])
        return min(self.windows, key=lambda item: (item[0].limit - item[1], item[2]))

    @property
    def retry_after(self) -> int:
        """Seconds until every refusing window has reset, so the same request is admitted (at least 1)."""
        refused = self.refused_by
        return max(1, max(reset for _, _, reset in refused)) if refused else 1

    def detail(self) -> dict:
        """The 429 detail: the deciding window (``window``, ``limit``, ``remaining``, ``reset_at``), then all."""
        window, count, _ = self.binding
        return {
            **window.describe(count, self.now),
            "windows": [w.describe(c, self.now) for w, c, _ in self.windows],
        }

    def headers(self) -> dict[str, str]:
        """IETF RateLimit headers: every policy, and the window that decides (``t`` = seconds until it resets)."""
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w, _, _ in self.windows)
        window, count, reset = self.binding
        remaining = max(0, window.limit - count)
        return {"RateLimit-Policy": policy, "RateLimit": f'"{window.name}";r={remaining};t={reset}'}


def admit(windows: list[Window], *, cost: int = 1) -> Admission:
    """Count one request (``cost`` units) in every window, or in none if any is full."""
    now = clock()
    args: list[int | str] = [cost]
    for window in windows:
        args += [window.limit, window.expire_seconds(now), "1" if window.seed else "0"]
    keys = [w.key for w in windows]
    for _ in range(_MAX_SEED_ROUNDS):
        raw = _script(_ADMIT)(keys=keys, args=args)
        if int(raw[0]) != -1:
            break
        _seed(windows, [int(i) - 1 for i in raw[1:]], now)
    else:  # pragma: no cover - Redis lost the keys again while we rebuilt them, three times running
        raise redis.ConnectionError("rate-limit counters keep disappearing")
    results = tuple((w, int(raw[1 + i]), w.reset_in(now)) for i, w in enumerate(windows))
    return Admission(admitted=bool(int(raw[0])), windows=results, cost=cost, now=now)


def refund(windows: list[Window], *, amount: int = 1) -> None:
    """Give back what was charged (a request that failed on our side never counts)."""
    if amount > 0 and windows:
        _script(_REFUND)(keys=[w.key for w in windows], args=[amount])


def counts(windows: list[Window]) -> list[int]:
    """The current count of each window (rebuilding missing seeded ones first), without counting anything."""
    return [count for _, count, _ in admit(windows, cost=0).windows]


@dataclasses.dataclass(frozen=True)
class Reservation:
    window: Window
    taken: int
    count: int
    ttl: int  # seconds until the window resets (limiter clock)

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit - self.count)

    @property
    def reset_in(self) -> int:
        return self.ttl


def reserve(window: Window, wanted: int) -> Reservation:
    """Take up to ``wanted`` units from what remains in ``window`` (possibly 0), atomically."""
    now = clock()
    args = [max(0, wanted), window.limit, window.expire_seconds(now), "1" if window.seed else "0"]
    for _ in range(_MAX_SEED_ROUNDS):
        raw = _script(_RESERVE)(keys=[window.key], args=args)
        if int(raw[0]) != -1:
            break
        _seed([window], [0], now)
    else:  # pragma: no cover - see admit()
        raise redis.ConnectionError("rate-limit counters keep disappearing")
    taken, count = int(raw[0]), int(raw[1])
    return Reservation(window=window, taken=taken, count=count, ttl=window.reset_in(now))


def next_utc_midnight(now: dt.datetime | None = None) -> dt.datetime:
    """The next 00:00 UTC after ``now`` (default: the limiter clock), when day windows reset."""
    now = now or dt.datetime.fromtimestamp(clock(), dt.UTC)
    return (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
