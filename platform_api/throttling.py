"""Exact rate limits in Redis, shared by every web process.

One Lua script checks all windows of a request (per minute, per UTC day, ...) and
increments them only if every one admits it, atomically: 200 concurrent requests
against a limit of 50 admit exactly 50, whatever the number of gunicorn processes.
(DRF's cache throttle reads, then writes, and over-admits under concurrency.)

Headers follow the IETF RateLimit draft: ``RateLimit-Policy: "minute";q=60;w=60`` and
``RateLimit: "minute";r=12;t=41`` (remaining, seconds to reset), for the tightest window.
"""

from __future__ import annotations

import dataclasses
import time

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from platform_api.ratelimit import client

# KEYS: one counter per window. ARGV: cost, then (limit, ttl_seconds) per key.
# Returns: admitted (1/0), then for each window: count after this request, ttl.
_ADMIT = """
local cost = tonumber(ARGV[1])
local n = #KEYS
local counts = {}
local admitted = 1
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = current
  if current + cost > limit then admitted = 0 end
end
local out = {admitted}
for i = 1, n do
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

_script = None


def _admit_script():
    global _script
    if _script is None or _script.registered_client is not client():
        _script = client().register_script(_ADMIT)
    return _script


@dataclasses.dataclass(frozen=True)
class Window:
    name: str  # "minute", "day", ...
    limit: int
    seconds: int  # window length
    key: str

    @classmethod
    def fixed(cls, *, name: str, limit: int, seconds: int, scope: str) -> Window:
        # Fixed windows aligned to the epoch: a day window resets at UTC midnight.
        index = int(time.time()) // seconds
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        return cls(name=name, limit=limit, seconds=seconds, key=f"{prefix}:rl:{scope}:{name}:{index}")


@dataclasses.dataclass(frozen=True)
class Decision:
    admitted: bool
    windows: tuple[tuple[Window, int, int], ...]  # (window, count, seconds to reset)

    @property
    def retry_after(self) -> int:
        blocked = [ttl for window, count, ttl in self.windows if count >= window.limit]
        return max(1, max(blocked) if blocked else 1)

    def headers(self) -> dict[str, str]:
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w, _, _ in self.windows)
        # Report the window closest to running out.
        window, count, ttl = min(self.windows, key=lambda item: (item[0].limit - item[1], item[2]))
        remaining = max(0, window.limit - count)
        return {"RateLimit-Policy": policy, "RateLimit": f'"{window.name}";r={remaining};t={max(0, ttl)}'}


def admit(windows: list[Window], *, cost: int = 1) -> Decision:
    """Count one request (or ``cost`` units) against every window, or none if any is full."""
    args: list[int] = [cost]
    for window in windows:
        args += [window.limit, window.seconds + 5]
    raw = _admit_script()(keys=[w.key for w in windows], args=args)
    admitted = bool(raw[0])
    results = tuple((w, int(raw[1 + 2 * i]), int(raw[2 + 2 * i])) for i, w in enumerate(windows))
    return Decision(admitted=admitted, windows=results)


def attach_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers the middleware adds to the response, whatever the view answers."""
    inner = getattr(request, "_request", request)
    inner.ratelimit_headers = headers


class PublicAnonThrottle(BaseThrottle):
    """Anonymous, per-IP limit for public endpoints (PUBLIC_RATE_LIMIT_PER_MINUTE / _PER_DAY)."""

    def allow_request(self, request: Request, view) -> bool:
        ident = self.get_ident(request)
        windows = [
            Window.fixed(name="minute", limit=settings.PUBLIC_RATE_LIMIT_PER_MINUTE, seconds=60, scope=f"anon:{ident}"),
            Window.fixed(name="day", limit=settings.PUBLIC_RATE_LIMIT_PER_DAY, seconds=86_400, scope=f"anon:{ident}"),
        ]
        self.decision = admit(windows)
        attach_headers(request, self.decision.headers())
        return self.decision.admitted

    def wait(self) -> float:
        return float(self.decision.retry_after)
