"""A grant's limits: request windows, the daily record quota, the export allowance, today's usage.

The limiter itself (``platform_api.ratelimit``) knows nothing about grants; this module names a
grant's windows once, so the throttle, the records endpoint and ``/usage`` all count in the same
keys. Record quotas are reserved before rows are read and what was not used is given back
(:func:`reserve_records`), so concurrent pages can never overshoot.

Day counters survive a Redis restart: when a day's key is missing, its count is rebuilt from
the audit log, which records every request of a grant (docs/quotas.md). Exports do not spend the
record quota: a grant has an export allowance of its own, rows exported per calendar month
(UTC), counted from the exports themselves in the database (:func:`export_allowance`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Q, Sum

from platform_api.errors import QuotaExceeded
from platform_api.models import AccessEvent
from platform_api.ratelimit import (
    DAY,
    Reservation,
    Window,
    clock,
    counts,
    iso,
    next_utc_midnight,
    refund,
    reserve,
)

MINUTE = 60


def _scope(grant_id: int) -> str:
    return f"grant:{int(grant_id)}"


def _window_events(grant_id: int, window: Window):
    start = dt.datetime.fromtimestamp(window.start, dt.UTC)
    end = dt.datetime.fromtimestamp(window.end, dt.UTC)
    return AccessEvent.objects.filter(grant_id=grant_id, occurred_at__gte=start, occurred_at__lt=end)


def _requests_from_audit(grant_id: int) -> Callable[[Window], int]:
    """A day's admitted requests, as the audit log has them: answered below 500 and not refused with 429."""

    def seed(window: Window) -> int:
        return _window_events(grant_id, window).filter(status__lt=500).exclude(status=429).count()

    return seed


# The audit events whose ``rows_returned`` spent the record quota: those of the records endpoint
# (``…/records``, GET, HEAD or POST). Other events carry rows that never spent it: an export
# download logs the export's row count, an aggregate its number of groups (docs/quotas.md).
RECORDS_SPENT = Q(endpoint__endswith="/records")


def _records_from_audit(grant_id: int) -> Callable[[Window], int]:
    """A day's records returned by pages, as the audit log has them (refused requests return none)."""

    def seed(window: Window) -> int:
        events = _window_events(grant_id, window).filter(RECORDS_SPENT, status__lt=400)
        return events.aggregate(total=Sum("rows_returned"))["total"] or 0

    return seed


def request_windows(grant) -> list[Window]:
    """Requests per minute and per UTC day (limits read from the grant, editable in admin)."""
    scope = _scope(grant.pk)
    return [
        Window.fixed(name="minute", limit=grant.requests_per_minute, seconds=MINUTE, scope=scope),
        Window.fixed(
            name="day", limit=grant.requests_per_day, seconds=DAY, scope=scope, seed=_requests_from_audit(grant.pk)
        ),
    ]


def records_window(grant) -> Window:
    """Records returned by pages per UTC day."""
    return Window.fixed(
        name="records",
        limit=grant.records_per_day,
        seconds=DAY,
        scope=_scope(grant.pk),
        seed=_records_from_audit(grant.pk),
    )


def records_window_by_key(key: str) -> Window:
    """The records window a reservation was taken from (a refund must hit the day that was charged)."""
    return Window(name="records", limit=0, seconds=DAY, key=key)


def _resets_at() -> str:
    return next_utc_midnight().isoformat().replace("+00:00", "Z")


def usage_today(grant) -> dict:
    """Today's (UTC) admitted requests and records of a grant, and when the counters reset."""
    day = request_windows(grant)[1]
    requests_count, records_count = counts([day, records_window(grant)])
    return {"requests": requests_count, "records": records_count, "resets_at": _resets_at()}


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
        window = reservation.window
        count = reservation.count - reservation.taken
        wait = max(1, reservation.reset_in)
        message = (
            refusal(reservation)
            if refusal
            else (
                f"The daily record quota of {grant.records_per_day} records is used up; it resets at "
                f"{iso(window.end)} (in {wait} s). For a whole release or a large slice, request an export: "
                "exports have an allowance of their own."
            )
        )
        raise QuotaExceeded(
            message,
            detail={**(detail or {}), **window.describe(count), "records_per_day": grant.records_per_day},
            headers={
                "Retry-After": str(wait),
                # The window that refused, in place of the request windows that admitted the request.
                "RateLimit-Policy": f'"records";q={grant.records_per_day};w={window.seconds}',
                "RateLimit": f'"records";r={max(0, grant.records_per_day - count)};t={wait}',
            },
        )
    held = RecordsReservation(reservation)
    try:
        yield held
    except BaseException:
        refund([reservation.window], amount=reservation.taken)
        raise
    refund([reservation.window], amount=reservation.taken - held.used)


# --------------------------------------------------------------------------- export allowance


def month_bounds(now: float | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (UTC) containing ``now`` (the limiter clock): [first day 00:00, next month's)."""
    moment = dt.datetime.fromtimestamp(clock() if now is None else now, dt.UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def exported_rows_this_month(grant) -> int:
    """Rows of this month's exports that count: every export but the failed and cancelled ones (refunded)."""
    from moderation_data.exports.models import Export

    start, end = month_bounds()
    refunded = [Export.Status.FAILED, Export.Status.CANCELLED]
    exports = Export.objects.filter(grant_id=grant.pk, created_at__gte=start, created_at__lt=end)
    total = exports.filter(~Q(status__in=refunded)).aggregate(total=Sum("expected_rows"))["total"]
    return int(total or 0)


def export_allowance(grant) -> dict:
    """The grant's export allowance this month: limit, rows used, rows remaining, when it renews."""
    used = exported_rows_this_month(grant)
    _, end = month_bounds()
    return {
        "export_rows_per_month": grant.export_rows_per_month,
        "used": used,
        "remaining": max(0, grant.export_rows_per_month - used),
        "resets_at": end.isoformat().replace("+00:00", "Z"),
    }


def how_to_ask_for_more(grant) -> str:
    """Where a researcher asks for a larger allowance (named in every refusal)."""
    client_id = getattr(getattr(grant, "oauth_client", None), "client_id", "")
    return (
        f"To export more, ask the data-access team ({settings.ACCESS_REQUESTS_EMAIL}) to raise the export "
        f"allowance of grant #{grant.pk}{f' (client {client_id})' if client_id else ''}, saying which release "
        "and how many rows you need and why; or narrow the query."
    )


def check_export_allowance(grant, rows: int) -> None:
    """Refuse (429 ``quota_exceeded``) an export of ``rows`` rows that does not fit in this month's allowance.

    Call it under a lock on the grant's row: concurrent requests then see each other's exports.
    """
    allowance = export_allowance(grant)
    if rows <= allowance["remaining"]:
        return
    now = clock()
    _, end = month_bounds(now)
    wait = max(1, int(end.timestamp() - now))
    raise QuotaExceeded(
        f"The export has {rows} rows; {allowance['remaining']} of this month's export allowance of "
        f"{grant.export_rows_per_month} rows remain (it renews on {allowance['resets_at']}). "
        + how_to_ask_for_more(grant),
        detail={
            "window": "export_rows_month",
            "limit": grant.export_rows_per_month,
            "remaining": allowance["remaining"],
            "reset_at": allowance["resets_at"],
            "reset_in": wait,
            "rows": rows,
            "export_rows_per_month": grant.export_rows_per_month,
            "how_to_ask_for_more": how_to_ask_for_more(grant),
        },
        headers={"Retry-After": str(wait)},
    )
