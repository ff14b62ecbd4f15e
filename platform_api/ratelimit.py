"""Exact rate limits and quotas in Redis, shared by every web process and worker.

One Lua script checks all windows of a request (per minute, per UTC day, ...) and
increments them only if every one admits it, atomically: 200 concurrent requests
against a limit of 50 admit exactly 50, whatever the number of gunicorn processes.
(DRF's cache throttle reads, then writes, and over-admits under concurrency.)

Record quotas are *reserved* before rows are fetched (never more than what remains) and
the unused part refunded afterwards, so concurrent pages can never overshoot the quota.
Windows are fixed and aligned to the epoch, so a day window resets at 00:00 UTC. Keys
expire on their own shortly after their window ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from functools import lru_cache

import redis
from django.conf import settings

DAY = 86_400


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


# KEYS: one counter per window. ARGV: cost, then (limit, ttl_seconds) per key.
# Returns: admitted (1/0), then for each window: its count after this call, and its ttl.
_ADMIT = """
local cost = tonumber(ARGV[1])
local admitted = 1
local counts = {}
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if counts[i] + cost > tonumber(ARGV[2 * i]) then admitted = 0 end
end
local out = {admitted}
for i = 1, #KEYS do
  local ttl_arg = tonumber(ARGV[2 * i + 1])
  if admitted == 1 and cost > 0 then
    counts[i] = redis.call('INCRBY', KEYS[i], cost)
    if counts[i] == cost then redis.call('EXPIRE', KEYS[i], ttl_arg) end
  end
  local ttl = redis.call('TTL', KEYS[i])
  if ttl < 0 then ttl = ttl_arg end
  table.insert(out, counts[i])
  table.insert(out, ttl)
end
return out
"""

# KEYS[1]: counter. ARGV: wanted, limit, ttl. Takes min(wanted, remaining); returns {taken, count, ttl}.
_RESERVE = """
local wanted = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local taken = math.max(0, math.min(wanted, limit - current))
if taken > 0 then
  current = redis.call('INCRBY', KEYS[1], taken)
  if current == taken then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[3]) end
return {taken, current, ttl}
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
    name: str  # "minute", "day", "records", ...
    limit: int
    seconds: int  # window length
    key: str

    @classmethod
    def fixed(cls, *, name: str, limit: int, seconds: int, scope: str, at: float | None = None) -> Window:
        index = int(clock() if at is None else at) // seconds
        return cls(name=name, limit=limit, seconds=seconds, key=f"{key_prefix()}:{scope}:{name}:{index}")

    @property
    def ttl(self) -> int:
        return self.seconds + 60


@dataclasses.dataclass(frozen=True)
class Admission:
    admitted: bool
    windows: tuple[tuple[Window, int, int], ...]  # (window, count, seconds to reset)

    @property
    def retry_after(self) -> int:
        full = [ttl for window, count, ttl in self.windows if count >= window.limit]
        return max(1, max(full) if full else 1)

    def headers(self) -> dict[str, str]:
        """IETF RateLimit headers: every policy, and the window closest to running out."""
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w, _, _ in self.windows)
        window, count, ttl = min(self.windows, key=lambda item: (item[0].limit - item[1], item[2]))
        remaining = max(0, window.limit - count)
        return {"RateLimit-Policy": policy, "RateLimit": f'"{window.name}";r={remaining};t={max(0, ttl)}'}


def admit(windows: list[Window], *, cost: int = 1) -> Admission:
    """Count one request (``cost`` units) in every window, or in none if any is full."""
    args: list[int] = [cost]
    for window in windows:
        args += [window.limit, window.ttl]
    raw = _script(_ADMIT)(keys=[w.key for w in windows], args=args)
    results = tuple((w, int(raw[1 + 2 * i]), int(raw[2 + 2 * i])) for i, w in enumerate(windows))
    return Admission(admitted=bool(raw[0]), windows=results)


def refund(windows: list[Window], *, amount: int = 1) -> None:
    """Give back what was charged (a request that failed on our side never counts)."""
    if amount > 0 and windows:
        _script(_REFUND)(keys=[w.key for w in windows], args=[amount])


@dataclasses.dataclass(frozen=True)
class Reservation:
    window: Window
    taken: int
    count: int
    ttl: int

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit - self.count)


def reserve(window: Window, wanted: int) -> Reservation:
    """Take up to ``wanted`` units from what remains in ``window`` (possibly 0), atomically."""
    taken, count, ttl = _script(_RESERVE)(keys=[window.key], args=[max(0, wanted), window.limit, window.ttl])
    return Reservation(window=window, taken=int(taken), count=int(count), ttl=int(ttl))


def next_utc_midnight(now: dt.datetime | None = None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    return (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
