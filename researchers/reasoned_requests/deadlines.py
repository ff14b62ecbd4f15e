"""Deadline arithmetic of the amendment window (DSA Art. 40(5); docs/dsa-article-40.md, "Deadlines").

The window counts calendar days in the DSC's zone, as EU law counts periods (Regulation 1182/71,
Art. 3): the day of receipt does not count, so the window runs from the start of the next day to
the end of the 15th day, 24:00 local time. We never stretch the end to the next working day when
it falls on a weekend or a holiday (Art. 3(4) of that regulation may allow it): the platform's
own deadline is the strict one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from researchers.reasoned_requests.models import AMENDMENT_WINDOW_DAYS, MEMBER_STATE_TIME_ZONES


def zone_of(member_state: str) -> zoneinfo.ZoneInfo:
    """The zone of the DSC of ``member_state`` (its seat's)."""
    return zoneinfo.ZoneInfo(MEMBER_STATE_TIME_ZONES[member_state])


def last_day(received_at: dt.datetime, zone: zoneinfo.ZoneInfo, days: int = AMENDMENT_WINDOW_DAYS) -> dt.date:
    """The last calendar day (in ``zone``) of a window of ``days`` days following receipt."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at.astimezone(zone).date() + dt.timedelta(days=days)


def window_closes_at(
    received_at: dt.datetime, zone: zoneinfo.ZoneInfo, days: int = AMENDMENT_WINDOW_DAYS
) -> dt.datetime:
    """The instant the window closes: local midnight at the end of its last day, as an aware UTC datetime.

    Built from the local calendar date, so a DST change inside the window moves the UTC instant,
    never the local one (a window over the spring change lasts an hour less).
    """
    end = last_day(received_at, zone, days) + dt.timedelta(days=1)
    return dt.datetime.combine(end, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)


def days_left(closes_at: dt.datetime, zone: zoneinfo.ZoneInfo, now: dt.datetime) -> int:
    """Whole calendar days after today (in ``zone``) before the window closes: 0 on its last day, negative after."""
    closing_day = (closes_at.astimezone(zone) - dt.timedelta(microseconds=1)).date()
    return (closing_day - now.astimezone(zone).date()).days


def is_open(closes_at: dt.datetime, now: dt.datetime) -> bool:
    return now < closes_at
