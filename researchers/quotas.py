"""A grant's limits in the shared limiter: request windows, the daily record quota, today's usage.

The limiter itself (``platform_api.ratelimit``) knows nothing about grants; this module names a
grant's windows once, so the throttle, the records endpoint, exports and ``/usage`` all count
in the same keys. Record quotas are reserved before rows are read and what was not used is
given back (:func:`reserve_records`), so concurrent pages or exports can never overshoot.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

from platform_api.errors import QuotaExceeded
from platform_api.ratelimit import DAY, Reservation, Window, client, next_utc_midnight, refund, reserve

MINUTE = 60


def _scope(grant_id: int) -> str:
    return f"grant:{int(grant_id)}"


def request_windows(grant) -> list[Window]:
    """Requests per minute and per UTC day (limits read from the grant, editable in admin)."""
    scope = _scope(grant.pk)
    return [
        Window.fixed(name="minute", limit=grant.requests_per_minute, seconds=MINUTE, scope=scope),
        Window.fixed(name="day", limit=grant.requests_per_day, seconds=DAY, scope=scope),
    ]


def records_window(grant) -> Window:
    """Records returned per UTC day."""
    return Window.fixed(name="records", limit=grant.records_per_day, seconds=DAY, scope=_scope(grant.pk))


def records_window_by_key(key: str) -> Window:
    """The records window a reservation was taken from (a refund must hit the day that was charged)."""
    return Window(name="records", limit=0, seconds=DAY, key=key)


def usage_today(grant) -> dict:
    """Today's (UTC) admitted requests and records of a grant, and when the counters reset."""
    day = Window.fixed(name="day", limit=0, seconds=DAY, scope=_scope(grant.pk))
    requests_count, records_count = client().mget(day.key, records_window(grant).key)
    return {
        "requests": int(requests_count or 0),
        "records": int(records_count or 0),
        "resets_at": next_utc_midnight().isoformat().replace("+00:00", "Z"),
    }


@dataclasses.dataclass
class RecordsReservation:
    """Rows taken from today's record quota; what is not marked used goes back when the block ends."""

    reservation: Reservation
    used: int = 0

    @property
    def taken(self) -> int:
        return self.reservation.taken

    @property
    def key(self) -> str:
        return self.reservation.window.key

    def use(self, rows: int) -> None:
        self.used = min(rows, self.taken)


@contextlib.contextmanager
def reserve_records(
    grant,
    wanted: int,
    *,
    whole: bool = False,
    refusal: Callable[[Reservation], str] | None = None,
    detail: dict | None = None,
) -> Iterator[RecordsReservation]:
    """Reserve up to ``wanted`` records (all of them when ``whole``), or refuse with 429 ``quota_exceeded``.

    Inside the block, call ``use(n)``: the rest is refunded on exit, and everything is refunded
    if the block raises (a request that fails never spends the quota).
    """
    reservation = reserve(records_window(grant), wanted)
    if (reservation.taken == 0 and wanted > 0) or (whole and reservation.taken < wanted):
        if reservation.taken:
            refund([reservation.window], amount=reservation.taken)
        message = refusal(reservation) if refusal else "The daily record quota is used up; it resets at 00:00 UTC."
        raise QuotaExceeded(
            message,
            detail={**(detail or {}), "records_per_day": grant.records_per_day},
            headers={"Retry-After": str(max(1, reservation.ttl))},
        )
    held = RecordsReservation(reservation)
    try:
        yield held
    except BaseException:
        refund([reservation.window], amount=reservation.taken)
        raise
    refund([reservation.window], amount=reservation.taken - held.used)
