"""The 15-day amendment window (DSA Art. 40(5)) counted in the DSC's calendar days: month ends, leap
years, DST changes and receipts near midnight."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from researchers.reasoned_requests import deadlines

UTC = dt.UTC
BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
DUBLIN = zoneinfo.ZoneInfo("Europe/Dublin")
NICOSIA = zoneinfo.ZoneInfo("Asia/Nicosia")


def at(zone, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


@pytest.mark.parametrize(
    ("received", "last_day"),
    [
        # The day of receipt does not count: 15 full days follow it.
        (at(BRUSSELS, 2026, 3, 2, 10, 0), dt.date(2026, 3, 17)),
        # Month ends: January 31 + 15 days is February 15; the window crosses a 28-day February.
        (at(BRUSSELS, 2026, 1, 31, 9, 0), dt.date(2026, 2, 15)),
        (at(BRUSSELS, 2026, 2, 20, 9, 0), dt.date(2026, 3, 7)),
        # Leap year: February 14 + 15 days is February 29.
        (at(BRUSSELS, 2028, 2, 14, 9, 0), dt.date(2028, 2, 29)),
        # 30- and 31-day months, and the end of the year.
        (at(BRUSSELS, 2026, 4, 30, 9, 0), dt.date(2026, 5, 15)),
        (at(BRUSSELS, 2026, 12, 20, 9, 0), dt.date(2027, 1, 4)),
    ],
)
def test_the_window_ends_with_the_fifteenth_day_after_receipt(received, last_day):
    assert deadlines.last_day(received, BRUSSELS) == last_day
    closes = deadlines.window_closes_at(received, BRUSSELS)
    assert closes.tzinfo is not None
    assert closes.astimezone(BRUSSELS) == at(BRUSSELS, *(last_day + dt.timedelta(days=1)).timetuple()[:3], 0, 0)


def test_a_receipt_late_in_the_evening_utc_counts_from_the_dscs_next_day():
    # 23:30 UTC on January 31 is already February 1 in Brussels: the window runs February 2–16.
    received = at(UTC, 2026, 1, 31, 23, 30)
    assert deadlines.last_day(received, BRUSSELS) == dt.date(2026, 2, 16)
    # In Dublin (UTC in winter) it is still January 31: February 1–15.
    assert deadlines.last_day(received, DUBLIN) == dt.date(2026, 2, 15)
    # Cyprus is two hours ahead: the receipt falls on February 1 there too.
    assert deadlines.last_day(received, NICOSIA) == dt.date(2026, 2, 16)


def test_a_window_over_the_spring_dst_change_closes_at_local_midnight_an_hour_earlier_in_utc():
    received = at(BRUSSELS, 2026, 3, 20, 12, 0)  # CET, UTC+1; clocks go forward on March 29
    closes = deadlines.window_closes_at(received, BRUSSELS)
    assert closes == at(UTC, 2026, 4, 4, 22, 0)  # 2026-04-05 00:00 CEST
    assert closes.astimezone(BRUSSELS).hour == 0
    # The window is one hour shorter in absolute time than 15 days + the rest of the receipt day.
    assert closes - at(BRUSSELS, 2026, 3, 21, 0, 0) == dt.timedelta(days=15, hours=-1)


def test_a_window_over_the_autumn_dst_change_closes_at_local_midnight_an_hour_later_in_utc():
    received = at(BRUSSELS, 2026, 10, 20, 12, 0)  # CEST, UTC+2; clocks go back on October 25
    closes = deadlines.window_closes_at(received, BRUSSELS)
    assert closes == at(UTC, 2026, 11, 4, 23, 0)  # 2026-11-05 00:00 CET
    assert closes - at(BRUSSELS, 2026, 10, 21, 0, 0) == dt.timedelta(days=15, hours=1)


def test_a_receipt_in_the_hour_that_repeats_in_autumn_is_counted_from_its_local_day():
    # 01:30 UTC and 00:30 UTC on October 25 are both 02:30 local (once CEST, once CET): the same day.
    first = at(UTC, 2026, 10, 25, 0, 30)
    second = at(UTC, 2026, 10, 25, 1, 30)
    assert first.astimezone(BRUSSELS).date() == second.astimezone(BRUSSELS).date() == dt.date(2026, 10, 25)
    assert deadlines.last_day(first, BRUSSELS) == deadlines.last_day(second, BRUSSELS) == dt.date(2026, 11, 9)


def test_days_left_count_the_dscs_calendar_days_down_to_zero_on_the_last_day_and_below_after_it():
    received = at(BRUSSELS, 2026, 3, 20, 12, 0)
    closes = deadlines.window_closes_at(received, BRUSSELS)
    assert deadlines.days_left(closes, BRUSSELS, received) == 15
    assert deadlines.days_left(closes, BRUSSELS, at(BRUSSELS, 2026, 3, 30, 8, 0)) == 5
    assert deadlines.days_left(closes, BRUSSELS, at(BRUSSELS, 2026, 4, 2, 23, 59)) == 2
    assert deadlines.days_left(closes, BRUSSELS, at(BRUSSELS, 2026, 4, 4, 23, 59, 59)) == 0
    assert deadlines.is_open(closes, at(BRUSSELS, 2026, 4, 4, 23, 59, 59))
    assert not deadlines.is_open(closes, at(BRUSSELS, 2026, 4, 5, 0, 0))
    assert deadlines.days_left(closes, BRUSSELS, at(BRUSSELS, 2026, 4, 5, 0, 0)) == -1
    # 23:30 UTC on April 2 is already April 3 in Brussels: one day less than UTC's calendar says.
    assert deadlines.days_left(closes, BRUSSELS, at(UTC, 2026, 4, 2, 23, 30)) == 1


def test_a_naive_receipt_time_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines.last_day(dt.datetime(2026, 3, 2, 10, 0), BRUSSELS)


def test_every_member_state_has_a_zone_and_ireland_counts_in_dublin_time():
    from researchers.reasoned_requests.models import MEMBER_STATE_TIME_ZONES

    assert len(MEMBER_STATE_TIME_ZONES) == 27
    assert deadlines.zone_of("IE").key == "Europe/Dublin"
    for code in MEMBER_STATE_TIME_ZONES:
        assert deadlines.zone_of(code) is not None
