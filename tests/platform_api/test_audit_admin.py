"""The audit log in the admin: readable, filterable by grant, and its hash chain verified from the admin."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from platform_api.audit import record_access_event, seal_chain
from platform_api.models import AccessEvent
from researchers import services
from tests.platform_api.test_audit_log import tamper
from tests.researchers.factories import StaffFactory, make_application

LIST = "/admin/platform_api/accessevent/"


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def grant_with_events(title: str, count: int):
    grant = services.approve_application(make_application(status="submitted", title=title), reviewer=StaffFactory())
    events = [
        record_access_event(
            request_id=f"{title[:8]}-{i}",
            method="POST",
            endpoint="/api/v1/datasets/moderation-decisions/releases/2025.06.01/records",
            status=200,
            grant=grant,
            client_id=grant.oauth_client.client_id,
            dataset="moderation-decisions",
            release="2025.06.01",
            rows_returned=10 * i,
        )
        for i in range(count)
    ]
    seal_chain()
    return grant, [AccessEvent.objects.get(pk=event.pk) for event in events]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
def test_the_audit_list_filters_by_grant(staff_client):
    first, first_events = grant_with_events("Election study", 3)
    second, second_events = grant_with_events("Minors study", 2)
    page = staff_client.get(LIST)
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 5
    # The filter names grants by their project.
    assert f"Grant #{first.pk}: Election study" in page.text and f"Grant #{second.pk}: Minors study" in page.text
    filtered = staff_client.get(LIST, {"grant__id__exact": first.pk})
    shown = {event.pk for event in filtered.context["cl"].result_list}
    assert shown == {e.pk for e in first_events}
    assert not shown & {e.pk for e in second_events}
    assert f'href="/admin/researchers/accessgrant/{first.pk}/change/"' in filtered.text


@pytest.mark.django_db
def test_the_audit_list_shows_short_columns(staff_client):
    _, events = grant_with_events("Election study", 1)
    page = staff_client.get(LIST).text
    headers = [h for h in ("when (utc)", "grant", "request", "data", "status", "rows returned") if h in page.lower()]
    assert len(headers) == 6
    assert "POST /datasets/moderation-decisions/releases/2025.06.01/records" in page
    assert events[0].client_id not in page  # the 40-character client id is on the event's page, not the list
    detail = staff_client.get(f"{LIST}{events[0].pk}/change/").text
    assert events[0].client_id in detail and 'name="_save"' not in detail


@pytest.mark.django_db
def test_the_verify_action_reports_an_intact_chain(staff_client):
    _, events = grant_with_events("Election study", 4)
    response = staff_client.post(
        LIST, {"action": "verify_chain_action", ACTION_CHECKBOX_NAME: [events[1].pk]}, follow=True
    )
    assert messages_of(response) == [
        f"The audit chain is intact: 2 events verified (from the first event to #{events[1].pk})."
    ]
    response = staff_client.post(f"{LIST}verify-chain/", follow=True)
    assert messages_of(response) == ["The audit chain is intact: 4 events verified (the whole log)."]


@pytest.mark.django_db(transaction=True)
def test_the_verify_action_names_the_first_event_an_attacker_changed(staff_client):
    _, events = grant_with_events("Election study", 5)
    tamper("UPDATE platform_api_accessevent SET rows_returned = 0 WHERE id = %s", [events[2].pk])
    response = staff_client.post(
        LIST, {"action": "verify_chain_action", ACTION_CHECKBOX_NAME: [events[4].pk]}, follow=True
    )
    (message,) = messages_of(response)
    assert f"event #{events[2].pk}</a>" in message and "modified" in message
    assert "The 2 events before it verified." in message
    # Selecting only events before the change: that part of the chain is intact.
    response = staff_client.post(
        LIST, {"action": "verify_chain_action", ACTION_CHECKBOX_NAME: [events[1].pk]}, follow=True
    )
    assert messages_of(response)[0].startswith("The audit chain is intact: 2 events")
    response = staff_client.post(f"{LIST}verify-chain/", follow=True)
    assert "broken" in messages_of(response)[0]


@pytest.mark.django_db(transaction=True)
def test_the_verify_button_detects_a_removed_event(staff_client):
    _, events = grant_with_events("Election study", 3)
    tamper("DELETE FROM platform_api_accessevent WHERE id = %s", [events[1].pk])
    (message,) = messages_of(staff_client.post(f"{LIST}verify-chain/", follow=True))
    assert f"event #{events[2].pk}</a>" in message and "removed or inserted" in message


@pytest.mark.django_db
def test_the_verify_button_needs_a_post_and_staff(client, staff_client):
    assert staff_client.get(f"{LIST}verify-chain/").status_code == 405
    assert client.post(f"{LIST}verify-chain/").status_code == 302  # to the admin login
    assert AccessEvent.objects.count() == 0
