"""Staff are e-mailed 5 and 2 days before an amendment window closes: exactly once per threshold."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.core import mail
from django.db import connection

from platform_api.celery import app
from researchers.reasoned_requests import services as dsc
from researchers.reasoned_requests.models import DeadlineReminder
from tests.researchers.dsc_support import record
from tests.researchers.factories import StaffFactory, UserFactory

DUBLIN = zoneinfo.ZoneInfo("Europe/Dublin")


def dublin(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=DUBLIN)


@pytest.fixture
def staff(db):
    reviewer = StaffFactory(email="reviewer@platform.example")
    UserFactory(email="not-staff@platform.example")  # never e-mailed
    return reviewer


def reminder_mails() -> list:
    return [m for m in mail.outbox if "left to ask for an amendment" in m.subject]


@pytest.mark.django_db
def test_a_daily_run_through_the_window_emails_staff_at_5_and_2_days_left_once_each(staff, mailoutbox):
    # Received on 2026-03-20 in Dublin: the window's last day is April 4 (and it crosses the DST change).
    request = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    mailoutbox.clear()
    sent_on = {}
    day = dt.date(2026, 3, 20)
    while day <= dt.date(2026, 4, 6):
        for hour in (6, 18):  # twice a day: a second run the same day finds nothing to do
            now = dublin(day.year, day.month, day.day, hour, 0)
            if dsc.remind_amendment_deadlines(now=now):
                sent_on.setdefault(day, []).append(hour)
        day += dt.timedelta(days=1)
    assert sent_on == {dt.date(2026, 3, 30): [6], dt.date(2026, 4, 2): [6]}
    messages = reminder_mails()
    assert [m.subject.split(" left")[0].rsplit("] ", 1)[-1] for m in messages] == ["5 days", "2 days"]
    assert all(m.to == ["reviewer@platform.example"] for m in messages)
    assert request.reference in messages[0].subject and "2026-04-05 00:00 IST" in messages[0].body
    assert list(request.reminders.values_list("threshold_days", "days_left")) == [(5, 5), (2, 2)]
    assert request.history.filter(kind="reminder_sent").count() == 2


@pytest.mark.django_db
def test_a_request_recorded_with_three_days_left_gets_one_reminder_then_the_two_day_one(staff, mailoutbox):
    request = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    mailoutbox.clear()
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 1, 6, 0)) == 1  # 3 days left: the 5-day one
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 1, 7, 0)) == 0
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 2, 6, 0)) == 1  # 2 days left
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 3, 6, 0)) == 0
    assert len(reminder_mails()) == 2
    assert list(request.reminders.values_list("threshold_days", flat=True)) == [5, 2]


@pytest.mark.django_db
def test_a_request_first_seen_on_its_last_days_gets_a_single_email_for_both_thresholds(staff, mailoutbox):
    request = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    mailoutbox.clear()
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 3, 6, 0)) == 1  # 1 day left
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 4, 4, 6, 0)) == 0
    assert len(reminder_mails()) == 1 and reminder_mails()[0].subject.startswith("[Research data access] 1 day left")
    assert sorted(request.reminders.values_list("threshold_days", flat=True)) == [2, 5]


@pytest.mark.django_db
def test_no_reminder_once_the_platform_decided_or_after_the_window(staff, mailoutbox):
    amended = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    dsc.request_amendment(
        amended, ground="no_access", explanation="x", alternatives="y", actor=staff, now=dublin(2026, 3, 21, 9, 0)
    )
    late = record(dsc_member_state="IE", received_at=dublin(2026, 3, 1, 10, 0))  # closed on March 17
    mailoutbox.clear()
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 3, 30, 6, 0)) == 0
    assert not reminder_mails()
    assert not DeadlineReminder.objects.filter(request__in=[amended, late]).exists()


@pytest.mark.django_db
def test_a_failed_send_records_nothing_and_the_next_run_sends_it(staff, mailoutbox, monkeypatch):
    request = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    mailoutbox.clear()

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(dsc, "send_mail", broken)
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 3, 30, 6, 0)) == 0
    assert not request.reminders.exists()
    monkeypatch.undo()
    assert dsc.remind_amendment_deadlines(now=dublin(2026, 3, 30, 12, 0)) == 1
    assert len(reminder_mails()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_send_each_reminder_once(staff, mailoutbox):
    request = record(dsc_member_state="IE", received_at=dublin(2026, 3, 20, 10, 0))
    mailoutbox.clear()
    now = dublin(2026, 3, 30, 6, 0)
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(dsc.remind_amendment_deadlines(now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert len(reminder_mails()) == 1
    assert request.reminders.count() == 1


def test_the_daily_beat_schedule_runs_the_reminder_task_by_its_explicit_name():
    schedule = app.conf.beat_schedule["remind-amendment-deadlines-daily"]
    assert schedule["task"] == "researchers.remind_amendment_deadlines"
    app.loader.import_default_modules()  # what `celery worker` and `celery beat` do at start: autodiscovery
    assert "researchers.remind_amendment_deadlines" in app.tasks


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_task_on_a_real_worker_records_each_threshold_once(staff, celery_worker_process):
    from django.utils import timezone

    from researchers.reasoned_requests.tasks import remind_amendment_deadlines_task

    # Received ten days ago in Dublin: five days are left today.
    received = timezone.now().astimezone(DUBLIN) - dt.timedelta(days=10)
    request = record(dsc_member_state="IE", received_at=received.replace(hour=9, minute=0))
    assert dsc.days_left(request) == 5
    assert remind_amendment_deadlines_task.delay().get(timeout=60) == 1
    assert remind_amendment_deadlines_task.delay().get(timeout=60) == 0
    assert list(request.reminders.values_list("threshold_days", "recipients")) == [(5, 1)]
